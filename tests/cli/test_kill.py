"""SIGKILL a real ``siftrec split`` / ``siftrec fit`` that replaces an earlier result.

Whatever the moment of the kill, the output path holds the old result, the new one, or nothing;
never a mix. Kills come at several delays spread over a measured uninterrupted run, plus
deterministic kills right before and right after the swap (the CLI with a patched swap step).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from siftrec.data.readers import read_interactions
from siftrec.models import load_model
from siftrec.models.popularity import Popularity

CLI = [sys.executable, "-c", "from siftrec.cli.main import app; app()"]

#: The CLI with one step of the directory swap patched to SIGKILL the process.
KILLING_CLI = [
    sys.executable,
    "-c",
    "import os, signal, sys\n"
    "from siftrec import atomic\n"
    "step = getattr(atomic, sys.argv.pop(1))\n"
    "def killing(*args):\n"
    "    step(*args)\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
    "setattr(atomic, step.__name__, killing)\n"
    "from siftrec.cli.main import app\n"
    "app()\n",
]

#: Kill delays as fractions of an uninterrupted run (the output is written near the end).
FRACTIONS = (0.3, 0.6, 0.8, 0.9, 0.95, 1.0)


def run(*args: str | Path) -> float:
    """Run the CLI to completion; the seconds it took."""
    start = time.perf_counter()
    subprocess.run([*CLI, *map(str, args)], check=True, capture_output=True)
    return time.perf_counter() - start


def run_killed(delay: float, *args: str | Path) -> None:
    """Start the CLI, SIGKILL it after ``delay`` seconds (if still running), reap it."""
    process = subprocess.Popen(
        [*CLI, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()


def run_killed_at(step: str, *args: str | Path) -> None:
    """Run the CLI with the swap step ``step`` patched to kill the process after it ran."""
    done = subprocess.run([*KILLING_CLI, step, *map(str, args)], check=False, capture_output=True)
    assert done.returncode == -signal.SIGKILL


def visible(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    n = 60_000
    frame = pl.DataFrame({"user": rng.integers(0, 2000, n), "item": rng.integers(0, 800, n)})
    path = tmp_path_factory.mktemp("kill") / "log.csv"
    frame.write_csv(path)
    return path


def test_killed_split_leaves_the_old_or_the_new_split(tmp_path, log_csv):
    refs = {seed: tmp_path / f"ref{seed}" for seed in (1, 2)}
    seconds = max(run("split", log_csv, "--seed", seed, "--out", ref) for seed, ref in refs.items())
    expected = {seed: visible(ref) for seed, ref in refs.items()}
    out = tmp_path / "work" / "split"
    shutil.copytree(refs[1], out)
    (out / "notes.txt").write_text("mine")
    seed = 1

    def check() -> int | None:
        """The seed of the split at ``out`` after checking it is complete and unmixed."""
        if not out.exists():
            return None
        found = visible(out)
        assert found.pop("notes.txt") == b"mine"
        manifest = json.loads(found["manifest.json"])
        assert found == expected[manifest["seed"]], "a mix of two splits"
        for file in manifest["files"].values():
            read_interactions(out / file)  # each part matches its manifest's fingerprint
        return manifest["seed"]

    for fraction in FRACTIONS:
        run_killed(fraction * seconds, "split", log_csv, "--seed", 3 - seed, "--out", out)
        seed = check() or seed
    for step in ("_carry_over", "_exchange"):
        run_killed_at(step, "split", log_csv, "--seed", 3 - seed, "--out", out)
        assert check() == (seed if step == "_carry_over" else 3 - seed)
        seed = 3 - seed if step == "_exchange" else seed
    run("split", log_csv, "--seed", 3 - seed, "--out", out)  # cleans what the kills left
    assert check() == 3 - seed
    assert hidden(out.parent) == []


def test_killed_fit_leaves_the_old_or_the_new_model(tmp_path, log_csv):
    full = read_interactions(log_csv)
    trains = {}
    for name, keep in (("a", full.users % 2 == 0), ("b", full.users % 3 == 0)):
        trains[name] = tmp_path / f"train_{name}.csv"
        part = full.subset(keep)
        pl.DataFrame({"user": part.raw_users(), "item": part.raw_items()}).write_csv(trains[name])
    refs = {}
    for name, path in trains.items():
        model = Popularity().fit(read_interactions(path))
        refs[model.train_fingerprint_] = (name, model._get_state())
    out = tmp_path / "work" / "model"
    Popularity().fit(read_interactions(trains["a"])).save(out)
    (out / "notes.txt").write_text("mine")
    current = "a"

    def check() -> str | None:
        """Which training file the model at ``out`` was fitted on, after checking it loads."""
        if not out.exists():
            return None
        assert (out / "notes.txt").read_text() == "mine"
        model = load_model(out)
        name, state = refs[model.train_fingerprint_]
        loaded = model._get_state()
        assert loaded.keys() == state.keys()
        for key, value in state.items():
            np.testing.assert_array_equal(loaded[key], value)
        return name

    other = {"a": "b", "b": "a"}
    seconds = run("fit", "--train", trains["b"], "--model", "popularity", "--out", out)
    current = check()
    assert current == "b"
    for fraction in FRACTIONS[-2:]:  # torch loads first: only late kills can hit the save
        args = ("fit", "--train", trains[other[current]], "--model", "popularity", "--out", out)
        run_killed(fraction * seconds, *args)
        current = check() or current
    run_killed_at(
        "_exchange", "fit", "--train", trains[other[current]], "--model", "popularity", "--out", out
    )
    assert check() == other[current]
    assert hidden(out.parent) != []  # the old model, left where the kill stopped its removal
    run("fit", "--train", trains["a"], "--model", "popularity", "--out", out)
    assert check() == "a"
    assert hidden(out.parent) == []
