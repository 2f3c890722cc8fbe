"""Multi-behaviour logs → one log with ordinal levels, and the Tmall (MBGCN release) splits.

Two layouts are read by the ``multibehavior`` format (``multibehavior:collect,cart,buy``
declares the order, shallowest first; without it the order of
:data:`~siftrec.data.levels.KNOWN_BEHAVIORS` applies):

- a **folder with one file per behaviour**, named after it (``buy.txt``, ``cart.txt.gz``,
  ``collect.csv``, ...), each a ``user item`` pair list (whitespace-separated, as the MBGCN /
  CRGCN releases) or a csv/tsv table with user and item columns; other files in the folder are
  ignored (with an order: every behaviour it names must have a file);
- a **table file with a behaviour column** (``behavior``/``behaviour``/``event``/``type``/
  ``feedback``), read as csv/tsv/parquet.

Each row gets the level of its behaviour and the ``feedback`` column its name; pairs seen under
several behaviours keep the deepest (:func:`~siftrec.data.levels.collapse_levels`).

:func:`mbgcn_split` rebuilds the Tmall splits of the multi-behaviour literature from the MBGCN
release (``tsinghua-fib-lab/MBGCN``, folder ``Tmall``): the CRGCN split and an honest variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions
from siftrec.data.levels import (
    BEHAVIOR,
    KNOWN_BEHAVIORS,
    LEVEL,
    collapse_levels,
    filter_levels,
    levels_from_behaviors,
)
from siftrec.data.readers.columns import frame_to_interactions
from siftrec.data.readers.files import require_file
from siftrec.data.readers.formats import infer_format
from siftrec.data.readers.frames import table_frame
from siftrec.data.readers.text import read_lightgcn
from siftrec.errors import SiftrecError

#: The format name; ``multibehavior:a,b,c`` declares the order.
FORMAT = "multibehavior"
#: The format of the MBGCN release's files read as parts of a Tmall split:
#: ``mbgcn:crgcn``, ``mbgcn:honest`` (``:buy`` appended: the training purchases alone).
MBGCN_FORMAT = "mbgcn"
#: Suffixes of per-behaviour files, compression aside.
_SUFFIXES = (".txt", ".csv", ".tsv", ".dat", "")


def parse_format(spec: str) -> list[str] | None:
    """The declared order of a ``multibehavior[:a,b,c]`` format string (None if none)."""
    name, colon, rest = spec.strip().partition(":")
    if name.lower() != FORMAT:
        raise SiftrecError(f"not a {FORMAT} format: {spec!r}")
    if not colon:
        return None
    order = [part.strip() for part in rest.split(",") if part.strip()]
    if not order:
        raise SiftrecError(f"format {spec!r} declares an empty behaviour order")
    return order


def read_multibehavior(
    path: str | Path,
    order: Sequence[str] | None = None,
    *,
    user_map: IdMap | None = None,
    item_map: IdMap | None = None,
) -> Interactions:
    """A multi-behaviour log (a folder of per-behaviour files or a table with a behaviour
    column) with ``level`` and ``feedback`` columns; see the module docstring."""
    path = Path(path)
    if path.is_dir():
        files = behavior_files(path, order)
        return _read_files(files, order, user_map, item_map)
    require_file(path)
    fmt = infer_format(path)
    if fmt not in ("csv", "tsv", "parquet"):
        raise SiftrecError(
            f"{path.name}: a {FORMAT} file is a csv/tsv/parquet table with a behaviour column "
            "(or give a folder with one file per behaviour)"
        )
    frame = table_frame(path, fmt, None, None, None)
    log = frame_to_interactions(frame, path.name, user_map=user_map, item_map=item_map)
    if not log.has_column(BEHAVIOR):
        raise SiftrecError(
            f"{path.name}: no behaviour column (looked for behavior/behaviour/event/type/"
            f"feedback); found {', '.join(frame.columns)}"
        )
    return levels_from_behaviors(log, order)


def behavior_files(folder: Path, order: Sequence[str] | None = None) -> dict[str, Path]:
    """``{behaviour: file}`` of a per-behaviour folder: the behaviours of ``order``, or every
    file named after a known behaviour."""
    by_stem: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        name = file.name.removesuffix(".gz")
        stem = next((name.removesuffix(s) for s in _SUFFIXES if s and name.endswith(s)), name)
        if file.is_file():
            by_stem.setdefault(stem, file)
    if order is not None:
        missing = [b for b in order if b not in by_stem]
        if missing:
            raise SiftrecError(
                f"{folder}: no file for behaviours {', '.join(missing)} "
                f"(found {', '.join(sorted(by_stem)) or 'none'})"
            )
        return {b: by_stem[b] for b in order}
    found = {s: f for s, f in by_stem.items() if s.lower() in KNOWN_BEHAVIORS}
    if not found:
        raise SiftrecError(
            f"{folder}: no per-behaviour file (e.g. buy.txt, cart.txt, collect.txt); "
            f"found {', '.join(sorted(by_stem)) or 'nothing'}"
        )
    return found


def _read_pairs(file: Path, user_map: IdMap | None, item_map: IdMap | None) -> Interactions:
    """One behaviour's (user, item) pairs: a csv/tsv table, or whitespace-separated pairs."""
    name = file.name.lower().removesuffix(".gz")
    if name.endswith((".csv", ".tsv")):
        fmt = "csv" if name.endswith(".csv") else "tsv"
        frame = table_frame(file, fmt, None, None, None)
        return frame_to_interactions(frame, file.name, user_map=user_map, item_map=item_map)
    return read_lightgcn(file, user_map=user_map, item_map=item_map)


def _read_files(
    files: dict[str, Path],
    order: Sequence[str] | None,
    user_map: IdMap | None,
    item_map: IdMap | None,
) -> Interactions:
    logs = []
    for file in files.values():
        log = _read_pairs(file, user_map, item_map)
        user_map, item_map = log.user_map, log.item_map
        logs.append(log)
    # every part on the final maps (they only grew), then one log with the behaviour names
    logs = [log.remap(user_map, item_map)[0] for log in logs]
    names = np.concatenate([np.full(len(log), b) for b, log in zip(files, logs, strict=True)])
    merged = Interactions(
        np.concatenate([log.users for log in logs]),
        np.concatenate([log.items for log in logs]),
        np.ones(len(names), dtype=np.float32),
        user_map,
        item_map,
        {BEHAVIOR: names},
    )
    return levels_from_behaviors(merged, order)


# ---------------------------------------------------------------------------- Tmall (MBGCN)
#: The MBGCN release's behaviours, shallowest first (its view/click file is not in our copy).
MBGCN_ORDER = ("collect", "cart", "buy")
MbgcnVariant = Literal["crgcn", "honest"]


def mbgcn_split(folder: str | Path, variant: MbgcnVariant = "crgcn") -> dict[str, Interactions]:
    """The Tmall splits of the MBGCN release in ``folder``, on 0-based id maps of the sizes in
    ``data_size.txt``: ``{"train", "test"}`` (and ``"validation"`` for ``honest``).

    ``crgcn``: the split of CRGCN, MB-CGCN, MuLe and HGIB — training purchases = the release's
    ``train.txt`` ∪ ``test.txt``, test = its ``validation.txt``; their "validation" lies inside
    the training purchases, so this split has none. ``honest``: training purchases =
    ``train.txt``, validation = ``test.txt``, test = ``validation.txt`` (the same test pairs,
    a disjoint validation part, fewer training purchases).

    Training logs carry every behaviour of the release (collect 1, cart 2, buy 3) as levels,
    collapsed to the deepest per pair; :func:`~siftrec.data.levels.filter_levels` with
    ``min_level=3`` gives the purchases alone. The auxiliary behaviours cover the whole period,
    as in the MBGCN protocol, and overlap held-out purchases.
    """
    folder = Path(folder)
    size_file = folder / "data_size.txt"
    require_file(size_file)
    try:
        n_users, n_items = (int(v) for v in size_file.read_text().split()[:2])
    except ValueError:
        raise SiftrecError(f"{size_file}: expected 'n_users n_items'") from None
    if variant not in ("crgcn", "honest"):
        raise SiftrecError(f"unknown Tmall split {variant!r}; choose crgcn or honest")
    users, items = IdMap(np.arange(n_users)), IdMap(np.arange(n_items))

    def part(stem: str) -> Interactions:
        files = behavior_files(folder, [stem])
        log = _read_pairs(files[stem], users, items)
        if len(log.user_map) != n_users or len(log.item_map) != n_items:
            raise SiftrecError(f"{files[stem].name} has ids beyond data_size.txt")
        return log

    buys = ("train", "test") if variant == "crgcn" else ("train",)
    logs = [part(stem) for stem in buys] + [part("cart"), part("collect")]
    levels = [3] * len(buys) + [2, 1]
    names = ["buy"] * len(buys) + ["cart", "collect"]
    train = Interactions(
        np.concatenate([log.users for log in logs]),
        np.concatenate([log.items for log in logs]),
        np.ones(sum(map(len, logs)), dtype=np.float32),
        users,
        items,
        {
            LEVEL: np.repeat(np.asarray(levels, dtype=np.int16), [len(x) for x in logs]),
            BEHAVIOR: np.repeat(np.asarray(names), [len(x) for x in logs]),
        },
    )
    out = {"train": collapse_levels(train), "test": part("validation")}
    if variant == "honest":
        out["validation"] = part("test")
    return out


#: The part of each split that a file of the release holds (file stem → part).
MBGCN_PARTS: dict[str, dict[str, str]] = {
    "crgcn": {"train": "train", "validation": "test"},
    "honest": {"train": "train", "test": "validation", "validation": "test"},
}


def read_format(
    path: str | Path, spec: str, user_map: IdMap | None = None, item_map: IdMap | None = None
) -> Interactions:
    """Read ``path`` by a ``multibehavior[:order]`` or ``mbgcn:SPLIT[:buy]`` format string.

    ``mbgcn:SPLIT`` reads a file of the MBGCN release as its part of :func:`mbgcn_split`
    (``SPLIT`` = ``crgcn`` or ``honest``): ``train.txt`` is the training log (every behaviour as
    levels; with ``:buy`` the purchases alone), ``validation.txt`` the test part and, for
    ``honest``, ``test.txt`` the validation part. A grid or a command then names the release's
    own files with one read format.
    """
    path = Path(path)
    name, _, rest = spec.strip().partition(":")
    if name.lower() == FORMAT:
        return read_multibehavior(path, parse_format(spec), user_map=user_map, item_map=item_map)
    split, _, only = rest.partition(":")
    if split not in MBGCN_PARTS or only not in ("", "buy"):
        raise SiftrecError(f"format {spec!r}: write mbgcn:crgcn or mbgcn:honest (':buy' optional)")
    require_file(path)
    stem = path.name.lower().removesuffix(".gz").removesuffix(".txt")
    roles = MBGCN_PARTS[split]
    if stem not in roles:
        files = ", ".join(f"{f}.txt ({r})" for f, r in roles.items())
        raise SiftrecError(f"{path.name} is no part of the {split} split; its files: {files}")
    if roles[stem] == "train":
        train = mbgcn_split(path.parent, split)["train"]  # type: ignore[arg-type]
        return filter_levels(train, 3) if only == "buy" else train
    sizes = (path.parent / "data_size.txt").read_text().split()[:2]
    users = user_map or IdMap(np.arange(int(sizes[0])))
    items = item_map or IdMap(np.arange(int(sizes[1])))
    return read_lightgcn(path, user_map=users, item_map=items)
