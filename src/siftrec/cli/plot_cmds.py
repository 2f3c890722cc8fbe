"""``siftrec plot history MODEL_DIR``: the per-epoch training record of a saved model as a PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from siftrec.cli.common import guard_outputs, handle_errors, stderr
from siftrec.errors import SiftrecError

#: The plot's file name inside MODEL_DIR when no --out is given.
HISTORY_PNG = "history.png"

plot_app = typer.Typer(help="Plots of saved models.", no_args_is_help=True)


@plot_app.command("history")
@handle_errors
def history_command(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by `siftrec fit`.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="PNG to write (default MODEL_DIR/history.png).")
    ] = None,
) -> None:
    """Plot training loss and validation metrics per epoch from MODEL_DIR/model.json.

    The default output is the one file this command writes inside MODEL_DIR; any other path
    inside it is refused, so no model file can be overwritten.
    """
    from siftrec.train import plot_history  # lazy: loads torch and matplotlib (start-up time)

    meta_path = model_dir / "model.json"
    if not meta_path.is_file():
        raise SiftrecError(f"{model_dir} is not a model directory (no model.json)")
    target = out or model_dir / HISTORY_PNG
    default = target.resolve() == (model_dir / HISTORY_PNG).resolve()
    guard_outputs({"--out": target}, {}, {} if default else {"MODEL_DIR": model_dir})
    try:
        history = json.loads(meta_path.read_text()).get("history") or []
    except json.JSONDecodeError as exc:
        raise SiftrecError(f"corrupt {meta_path}: {exc}") from None
    plot_history(history, target)
    stderr.print(f"wrote {target}", highlight=False)
