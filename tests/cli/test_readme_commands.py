"""Every `siftrec` command of README.md runs as written, in order, on the built-in demo data.

The commands are read from the README's ``bash`` blocks (continuation lines joined, comments
dropped, ``a && b`` run as two commands) and run in one temporary directory holding the files
they name: ``ratings.csv`` and ``clicks.csv`` (the semi-synthetic demo log, with timestamps,
dwell times and the injected-noise flag), ``pairs.csv`` and the repository's ``bench/grids``.
Commands that need a real data set (:data:`NEEDS_REAL_DATA`) and servers, which run until
stopped (:data:`SERVERS`), are skipped; the hyperparameter search (30 trials, most of the time)
runs in its own test, marked slow.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.data.synthetic import generate
from siftrec.data.writers import write_interactions

ROOT = Path(__file__).resolve().parents[2]
#: Grids over real data sets: minutes of training on MovieLens; the smoke grid covers the path.
NEEDS_REAL_DATA = ("bench/grids/sgdl_ml100k.toml",)
#: Commands run by :func:`test_readme_tuning_runs_as_written` (after the README's split).
SLOW = ("siftrec tune ",)
#: Servers run until stopped; tests/serve starts the app and checks its answers.
SERVERS = ("siftrec serve ",)


def readme_commands() -> list[str]:
    """The ``siftrec`` commands of README.md's bash blocks, in order."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                if words[0] == "siftrec":
                    commands.append(shlex.join(words[:cut]))
                words = words[cut + 1 :]
    return commands


COMMANDS = readme_commands()


def test_the_readme_has_commands():
    assert len(COMMANDS) >= 15
    assert any("--validation split/validation.csv" in c for c in COMMANDS)


def make_workdir(tmp: Path) -> Path:
    """The files the README's commands name, in ``tmp``."""
    data = generate(n_users=120, n_items=80, seed=0).interactions
    write_interactions(data, tmp / "ratings.csv")
    write_interactions(data, tmp / "clicks.csv")
    write_interactions(data.subset(np.arange(40)), tmp / "pairs.csv")
    shutil.copytree(ROOT / "bench" / "grids", tmp / "bench" / "grids")
    return tmp


def run_all(commands: list[str]) -> None:
    """Run ``commands`` in order in the current directory; each must exit 0."""
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, shlex.split(command)[1:])
        assert result.exit_code == 0, f"{command}\n{result.stderr}"


def test_every_readme_command_runs_as_written(tmp_path, monkeypatch):
    workdir = make_workdir(tmp_path)
    monkeypatch.chdir(workdir)
    skipped = [c for c in COMMANDS if any(n in c for n in NEEDS_REAL_DATA + SLOW + SERVERS)]
    assert len(skipped) == 3  # the real-data grid, the tuning run and the server
    run_all([c for c in COMMANDS if c not in skipped])
    assert (workdir / "models" / "lgcn" / "model.json").is_file()
    assert (workdir / "report.html").is_file() and (workdir / "recs.parquet").is_file()


@pytest.mark.slow
def test_readme_tuning_runs_as_written(tmp_path, monkeypatch):
    workdir = make_workdir(tmp_path)
    monkeypatch.chdir(workdir)
    split = [c for c in COMMANDS if c.startswith("siftrec split ")]
    tune = [c for c in COMMANDS if c.startswith(SLOW)]
    assert len(split) == 1 and len(tune) == 1
    run_all(split + tune)
    assert (workdir / "tuning" / "mf" / "trials.parquet").is_file()
