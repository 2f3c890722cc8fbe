"""Peak memory and time of reading a 20M-row log: batch-wise reading vs the whole-frame path.

Usage: ``python bench/read_memory.py [--work DIR] [--scale 1.0] [FILE ...]``. Without files,
the ML-20M-shaped log of ``bench/scale_20m.py`` (seed 0) is written to ``--work`` (a temporary
folder by default) as csv, gzip csv and Parquet. Each file is read in a fresh process, once by
``read_interactions`` (batch by batch, :mod:`siftrec.data.readers.stream`) and once by the
whole-frame path (the file as one polars frame, then its columns), and the process's peak RSS
growth during the read (``VmHWM`` reset through ``/proc/self/clear_refs``, after the imports,
polars' included) is compared with the size of the CSR the log becomes (int32 indices, float32
values, indptr) and with the memory the log's own arrays hold (int32 users and items, float32
weights: none when they are all equal, :func:`siftrec.data.interactions.uniform_weights`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 2**20


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(path: Path, mode: str) -> dict[str, float]:
    """Read ``path`` (``mode`` "stream" or "frame") and return seconds, growth and sizes."""
    import polars  # noqa: F401  (imported by the readers on first use: not part of a read)

    from siftrec.data.readers import read_interactions
    from siftrec.data.readers.columns import frame_to_interactions
    from siftrec.data.readers.formats import infer_format
    from siftrec.data.readers.frames import table_frame

    Path("/proc/self/clear_refs").write_text("5")
    base = _status("VmRSS")
    start = time.perf_counter()
    if mode == "stream":
        log = read_interactions(path)
    else:
        fmt = infer_format(path)
        log = frame_to_interactions(table_frame(path, fmt, None, None, None), path.name)
    seconds = time.perf_counter() - start
    growth = _status("VmHWM") - base
    matrix = log.matrix
    return {
        "seconds": seconds,
        "growth": growth,
        "csr": matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes,
        "log": log.users.nbytes
        + log.items.nbytes
        + (0 if log.uniform_weight is not None else log.weights.nbytes),
        "rows": len(log),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)  # the child: FILE MODE
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1])))
        return
    with tempfile.TemporaryDirectory(dir=args.work) as scratch:
        files = list(args.files)
        if not files:
            import gzip
            import shutil

            from scale_20m import ML20M_RATINGS, ML20M_USERS, ml20m_shaped, write_log

            users, items = ml20m_shaped(
                0,
                n_users=round(ML20M_USERS * args.scale),
                n_interactions=round(ML20M_RATINGS * args.scale),
            )
            files = [Path(scratch) / "log.csv", Path(scratch) / "log.parquet"]
            for path in files:
                write_log(users, items, path)
            del users, items
            with open(files[0], "rb") as src, gzip.open(f"{files[0]}.gz", "wb", 1) as dst:
                shutil.copyfileobj(src, dst)
            files.insert(1, Path(f"{files[0]}.gz"))
        print(f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs")
        print("| file | MiB | reader | seconds | peak growth (MiB) | ÷ CSR | ÷ log + CSR |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
        for path in files:
            for mode in ("stream", "frame"):
                child = [sys.executable, __file__, "--measure", str(path), mode]
                out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
                r = json.loads(out.splitlines()[-1])
                print(
                    f"| {path.name} ({r['rows']:,} rows) | {path.stat().st_size / MIB:,.0f} "
                    f"| {'batch-wise' if mode == 'stream' else 'whole frame'} "
                    f"| {r['seconds']:.1f} | {r['growth'] / MIB:,.0f} "
                    f"| {r['growth'] / r['csr']:.2f} "
                    f"| {r['growth'] / (r['csr'] + r['log']):.2f} |",
                    flush=True,
                )
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
