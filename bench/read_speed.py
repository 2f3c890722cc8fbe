"""Time ``read_interactions`` on a generated 1M-row CSV (plain and gzipped).

Usage: ``python bench/read_speed.py [--rows N] [--repeats R]``. Prints the best wall time per
file; the files live in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from siftrec.data.readers import read_interactions


def make_csv(path: Path, rows: int, seed: int) -> None:
    """A ``user,item,rating,timestamp`` log with Zipf-like item popularity."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "user": rng.integers(0, rows // 20, rows),
            "item": np.minimum(rng.zipf(1.3, rows), rows // 50),
            "rating": rng.integers(1, 6, rows),
            "timestamp": rng.integers(800_000_000, 900_000_000, rows),
        }
    )
    frame.write_csv(path)


def best_time(path: Path, repeats: int) -> tuple[float, int]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        data = read_interactions(path)
        times.append(time.perf_counter() - start)
    return min(times), len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "log.csv"
        make_csv(csv, args.rows, args.seed)
        gz = Path(tmp) / "log.csv.gz"
        with open(csv, "rb") as src, gzip.open(gz, "wb") as dst:
            shutil.copyfileobj(src, dst)
        read_interactions(csv)  # warm-up: imports
        for path in (csv, gz):
            seconds, n = best_time(path, args.repeats)
            rate = n / seconds / 1e6
            print(f"{path.name:12s} {n:>10,} rows  {seconds:.3f} s  ({rate:.2f} M rows/s)")


if __name__ == "__main__":
    main()
