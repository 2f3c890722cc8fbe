"""Classic commands do not load torch or numba: the CLI's start-up, ``data inspect``, ``split``
and popularity / ItemKNN fits (checked in a fresh interpreter, whose modules are its own)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

_SCRIPT = """
import json, sys
heavy = lambda: sorted(m for m in ("torch", "numba") if m in sys.modules)
from siftrec.cli.main import app
seen = {"import": heavy()}
for name, args in json.loads(sys.argv[1]):
    try:
        app(args, standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, (name, exc.code)
    seen[name] = heavy()
print(json.dumps(seen))
"""


def test_classic_commands_do_not_import_torch(tmp_path: Path):
    rng = np.random.default_rng(0)
    log = tmp_path / "log.csv"
    users = np.repeat(np.arange(50), 5)
    pl.DataFrame({"user": users, "item": rng.integers(0, 40, size=users.size)}).write_csv(log)
    commands = [
        ("inspect", ["data", "inspect", str(log)]),
        ("split", ["split", str(log), "--out", str(tmp_path / "split")]),
        ("popularity", ["fit", "--train", str(log), "--model", "popularity", "--out", "pop"]),
        ("itemknn", ["fit", "--train", str(log), "--model", "itemknn", "--out", "knn"]),
        ("models --help", ["models", "--help"]),
    ]
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(commands)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {name: [] for name in ["import", *(name for name, _ in commands)]}
    assert (tmp_path / "knn" / "model.json").is_file()
