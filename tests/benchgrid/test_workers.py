"""Cells in parallel: workers give the runner's results, and cell locks keep runs apart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from siftrec.benchgrid import parse_grid, run_grid
from siftrec.benchgrid.locks import cell_lock
from siftrec.errors import SiftrecError

GRID = {
    "seeds": [0, 1],
    "datasets": [
        {
            "name": "syn",
            "synthetic": {"n_users": 120, "n_items": 80},
            "split": {"scheme": "random", "test_ratio": 0.2, "validation_ratio": 0.1},
        }
    ],
    "models": [{"model": "popularity"}, {"model": "itemknn", "search": {"k": [5, 20]}}],
    "metrics": ["recall@10", "ndcg@10"],
}
#: Columns that measure the run (time, memory), not the result.
RUN_COLUMNS = ("fit_seconds", "eval_seconds", "tune_seconds", "peak_memory_mb")


def results(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "results.parquet").drop(RUN_COLUMNS)


def test_two_workers_give_the_sequential_results(tmp_path):
    grid = parse_grid(GRID)
    one = run_grid(grid, tmp_path / "one", progress=False)
    two = run_grid(grid, tmp_path / "two", progress=False, workers=2)
    assert (one.ran, two.ran, two.skipped, two.failed) == (4, 4, 0, 0)
    assert results(tmp_path / "one").equals(results(tmp_path / "two"))
    assert not any((tmp_path / "two" / "locks").iterdir())  # every lock released


def test_cells_locked_by_another_run_are_skipped_and_left_to_it(tmp_path):
    grid = parse_grid(GRID)
    held = grid.cells()[0]
    with cell_lock(tmp_path / "locks", held.cell_id) as taken:
        assert taken
        summary = run_grid(grid, tmp_path, progress=False)
    assert (summary.ran, summary.skipped) == (3, 1)
    assert not (tmp_path / "cells" / f"{held.cell_id}.json").exists()
    frame = pl.read_parquet(tmp_path / "results.parquet")
    assert held.cell_id not in frame["cell_id"].to_list() and frame.height == 3
    assert run_grid(grid, tmp_path, progress=False).ran == 1  # the lock is gone: it runs now


def test_a_lock_is_exclusive_while_held(tmp_path):
    with cell_lock(tmp_path, "cell") as first, cell_lock(tmp_path, "cell") as second:
        assert first and not second
        assert (tmp_path / "cell.lock").read_text().strip() == str(os.getpid())
    with cell_lock(tmp_path, "cell") as again:
        assert again


def test_a_killed_holder_does_not_block_the_cell(tmp_path):
    code = (
        "import sys, time\nfrom pathlib import Path\n"
        "from siftrec.benchgrid.locks import cell_lock\n"
        "with cell_lock(Path(sys.argv[1]), 'cell') as held:\n"
        "    print(held, flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        with cell_lock(tmp_path, "cell") as taken:
            assert not taken
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert (tmp_path / "cell.lock").exists()  # left behind by the killed holder
    with cell_lock(tmp_path, "cell") as taken:
        assert taken


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_positive_integer(tmp_path, workers):
    with pytest.raises(SiftrecError, match="workers must be a positive integer"):
        run_grid(parse_grid(GRID), tmp_path, progress=False, workers=workers)
