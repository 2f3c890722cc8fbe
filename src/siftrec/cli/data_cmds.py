"""``siftrec data inspect`` and ``siftrec split``."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer

from siftrec.atomic import check_directory_target
from siftrec.cli.common import (
    DEFAULT_LOG_OPTIONS,
    LogOptions,
    guard_outputs,
    handle_errors,
    read_input,
    status,
    stderr,
    stdout,
    with_log_options,
)
from siftrec.data.inspect import describe, format_description
from siftrec.data.preprocess import deduplicate
from siftrec.data.preprocess import rating_threshold as threshold_fn
from siftrec.data.splits import (
    SCHEME_CLASSES,
    SPLIT_FOLDER,
    SplitScheme,
    split_given,
    split_interactions,
    split_scheme,
)
from siftrec.errors import SiftrecError

data_app = typer.Typer(help="Inspect interaction logs.", no_args_is_help=True)


@data_app.command("inspect")
@handle_errors
@with_log_options
def inspect_command(
    path: Annotated[Path, typer.Argument(help="Interaction file to describe.")],
    read: LogOptions = DEFAULT_LOG_OPTIONS,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
) -> None:
    """Counts, density, duplicates and per-user / per-item quantiles of a log."""
    data = read_input(path, "input", read)
    stats = describe(data)
    if as_json:
        typer.echo(json.dumps(stats, indent=2, default=str))
    else:
        stdout.print(format_description(stats), highlight=False)


@with_log_options
def split_command(
    path: Annotated[Path, typer.Argument(help="Interaction file to split.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    read: LogOptions = DEFAULT_LOG_OPTIONS,
    scheme: Annotated[
        str, typer.Option(help="random | leave-last | temporal | strong | given.")
    ] = "random",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    test_ratio: Annotated[
        float | None, typer.Option(help="Held-out share per user (random, temporal) [0.2].")
    ] = None,
    validation_ratio: Annotated[
        float | None,
        typer.Option(
            help="Validation share (random, temporal; > 0 adds validation users: strong) [0]."
        ),
    ] = None,
    k: Annotated[
        int | None, typer.Option(help="Interactions held out per user (leave-last) [1].")
    ] = None,
    validation_k: Annotated[
        int | None, typer.Option(help="Validation items per user (leave-last) [0].")
    ] = None,
    cut: Annotated[
        str | None, typer.Option(help="Temporal cut: a fraction, an ISO date or a timestamp.")
    ] = None,
    validation_cut: Annotated[str | None, typer.Option(help="Temporal validation cut.")] = None,
    heldout_users: Annotated[
        float | None, typer.Option(help="Held-out users (strong): a count ≥ 1 or a fraction [0.1].")
    ] = None,
    fold_in_ratio: Annotated[
        float | None, typer.Option(help="Fold-in share (strong) [0.8].")
    ] = None,
    test_file: Annotated[
        Path | None, typer.Option("--test-file", help="Given test file (scheme given).")
    ] = None,
    validation_file: Annotated[
        Path | None, typer.Option("--validation-file", help="Given validation file.")
    ] = None,
    rating_threshold: Annotated[
        float | None,
        typer.Option(help="Keep only interactions with rating ≥ this (explicit → implicit)."),
    ] = None,
    dedupe: Annotated[bool, typer.Option(help="Drop duplicate (user, item) rows first.")] = True,
    write_format: Annotated[str, typer.Option(help="csv or parquet.")] = "csv",
) -> None:
    """Split a log into train / (validation) / test files with a manifest.

    Writes DIR/train.csv, DIR/test.csv (and DIR/validation.csv when asked) with columns user,item
    plus any extra columns, raw ids, and DIR/manifest.json.
    """
    if write_format not in ("csv", "parquet"):
        raise SiftrecError(f"--write-format must be csv or parquet, got {write_format!r}")
    guard_outputs(
        {},
        {"the input log": path, "--test-file": test_file, "--validation-file": validation_file},
        directories={"--out": out},
    )
    check_directory_target(out, SPLIT_FOLDER)  # refuse a foreign directory before splitting
    data = read_input(path, "input", read)
    notes = {}
    if dedupe:
        data, removed = deduplicate(data)
        notes["duplicates_removed"] = removed
        if removed:
            stderr.print(f"removed {removed:,} duplicate (user, item) rows")
    if rating_threshold is not None:
        before = len(data)
        data = threshold_fn(data, rating_threshold)
        notes["below_rating_threshold_removed"] = before - len(data)
    if len(data) == 0:
        raise SiftrecError("no interactions left after filtering")
    with status("Splitting"):
        if scheme == "given":
            if test_file is None:
                raise SiftrecError("scheme 'given' needs --test-file")
            test = read_input(
                test_file, "test", read, user_map=data.user_map, item_map=data.item_map
            )
            validation = None
            if validation_file is not None:
                validation = read_input(
                    validation_file,
                    "validation",
                    read,
                    user_map=test.user_map,
                    item_map=test.item_map,
                )
            result = split_given(data, test, validation)
        else:
            given = {
                "test_ratio": test_ratio,
                "validation_ratio": validation_ratio,
                "k": k,
                "validation_k": validation_k,
                "cut": _parse_cut(cut),
                "validation_cut": _parse_cut(validation_cut),
                "heldout_users": heldout_users,
                "fold_in_ratio": fold_in_ratio,
            }
            options = {name: value for name, value in given.items() if value is not None}
            if "heldout_users" in options and options["heldout_users"] >= 1:
                options["heldout_users"] = int(options["heldout_users"])
            result = split_interactions(data, _split_scheme(scheme, options), seed=seed)
    result.manifest.setdefault("preprocessing", notes)
    result.manifest.setdefault("source", str(path))
    with status(f"Writing {out}"):
        result.save(out, write_format=write_format)
    parts = [("train", result.train), ("validation", result.validation), ("test", result.test)]
    summary = ", ".join(f"{name} {len(part):,}" for name, part in parts if part is not None)
    stderr.print(f"wrote {out} ({summary})", highlight=False)


def _split_scheme(scheme: str, options: dict[str, Any]) -> SplitScheme:
    """The scheme object of ``--scheme`` and the scheme flags given; a flag of another scheme
    is refused by its name."""
    cls = SCHEME_CLASSES.get(scheme)
    if cls is not None:
        own = [f.name for f in fields(cls)]
        foreign = [_flag(name) for name in options if name not in own]
        if foreign:
            raise SiftrecError(
                f"{', '.join(foreign)} does not apply to --scheme {scheme} "
                f"(its flags: {', '.join(_flag(name) for name in own)})"
            )
    return split_scheme(scheme, **options)


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _parse_cut(value: str | None) -> float | int | str | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number >= 1 and number.is_integer() else number
