"""CLI start-up and Python-fit speed of two siftrec source trees, side by side.

Compares the ``src`` of two git revisions (``--baseline``, e.g. the commit before the lazy
imports and the library-level OpenMP setting, and ``--current``, HEAD by default), interleaving
the two in every round, each measurement in a fresh interpreter:

- ``import siftrec.cli.main``: cumulative import time from ``python -X importtime``;
- wall time of ``siftrec split --help`` and of ``siftrec fit --model popularity`` on a small log
  (ML-100K's first 20,000 ratings), interpreter start included;
- a Python MF fit (3 epochs on the same log, fit time alone) with ``OMP_WAIT_POLICY`` unset,
  as a user's script runs it: the OpenMP wait policy is the library's to set.

Prints one line per measurement with the medians and the ratio baseline / current.

    python bench/cli_startup.py --baseline <rev> [--current HEAD] [--rounds 5] [--startup-only]
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SIFTREC_DATA", ROOT.parent / "shared" / "data"))

FIT_MF = """
import time, siftrec
from siftrec.data.readers import read_interactions
from siftrec.models import get_model_class
data = read_interactions({path!r})
model = get_model_class("mf")(epochs=3)
start = time.perf_counter()
model.fit(data)
print(time.perf_counter() - start)
"""


def small_log(directory: Path) -> Path:
    """ML-100K's first 20,000 ratings as ``user,item`` CSV."""
    path = directory / "small.csv"
    with gzip.open(DATA / "ml-100k" / "u.data.gz", "rt") as lines:
        rows = [line.split("\t")[:2] for _, line in zip(range(20_000), lines, strict=False)]
    path.write_text("user,item\n" + "".join(f"{u},{i}\n" for u, i in rows))
    return path


def export(revision: str, directory: Path) -> Path:
    """``src`` of ``revision`` unpacked below ``directory``."""
    directory.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory / "src"


def run(src: Path, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple:
    """(wall seconds, stdout, stderr) of ``python args`` with ``src`` first on the path."""
    full = {**os.environ, **(env or {}), "PYTHONPATH": str(src)}
    if env is not None and "OMP_WAIT_POLICY" not in env:
        full.pop("OMP_WAIT_POLICY", None)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=full, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - start, done.stdout, done.stderr


def measure(src: Path, work: Path, log: Path, startup_only: bool) -> dict[str, float]:
    cli = ["-c", "from siftrec.cli.main import app; app()"]
    _, _, trace = run(src, ["-X", "importtime", "-c", "import siftrec.cli.main"], work)
    line = next(x for x in trace.splitlines() if re.search(r"\|\s*siftrec\.cli\.main$", x))
    out = {"import siftrec.cli.main (s)": int(line.split("|")[1]) / 1e6}
    out["siftrec split --help (s)"] = run(src, [*cli, "split", "--help"], work)[0]
    if startup_only:
        return out
    fit = [*cli, "fit", "--train", str(log), "--model", "popularity", "--out", "pop"]
    out["siftrec fit --model popularity (s)"] = run(src, fit, work)[0]
    mf = run(src, ["-c", FIT_MF.format(path=str(log))], work, env={})[1]
    out["Python MF fit, 3 epochs (s)"] = float(mf.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--current", default="HEAD", help="git revision measured against it")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--startup-only", action="store_true", help="only the import and split --help timings"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        log = small_log(work)
        trees = {
            "baseline": export(args.baseline, work / "baseline"),
            "current": export(args.current, work / "current"),
        }
        results: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
        for round_ in range(args.rounds):
            for name, src in trees.items():
                for key, value in measure(src, work, log, args.startup_only).items():
                    results[name].setdefault(key, []).append(value)
            load = os.getloadavg()[0]
            print(f"round {round_ + 1}/{args.rounds} done, load {load:.1f}", file=sys.stderr)
    print(f"{'measurement':<38} {'baseline':>9} {'current':>9} {'baseline/current':>17}")
    for key in results["current"]:
        base = statistics.median(results["baseline"][key])
        cur = statistics.median(results["current"][key])
        print(f"{key:<38} {base:>9.3f} {cur:>9.3f} {base / cur:>17.2f}")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
