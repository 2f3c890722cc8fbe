"""Load test of ``siftrec serve``: throughput and latency of POST /recommend, exact vs faiss ANN.

Fits an iALS (64 factors) on gowalla-lightgcn's training file (``DATASET/train.txt.gz`` under
``--data``, default ``$SIFTREC_DATA``; or serves ``--model-dir``), then, for each retrieval
backend in turn, starts ``siftrec serve`` on a free loopback port (one worker), waits for
``/health``, sends a warm-up of ``--warmup`` requests and then exactly ``--requests`` requests
from a bounded async client (httpx, ``--concurrency`` requests in flight), each a single known
user drawn with a seed, ``k=10``. Reports requests per second, latency percentiles measured by
the client (send to full response), failed requests (any non-200 answer or transport error)
the server process's CPU milliseconds per request (user + system, from ``/proc``: other jobs
on a shared machine barely move it, unlike the wall-clock latencies) and the load average; the
server is stopped (SIGINT) after each run.

    python bench/serve_load.py [--data DIR] [--requests 10000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from siftrec.data.location import default_data_dir
from siftrec.data.readers import read_interactions
from siftrec.models import IALS, Recommender
from siftrec.version import __version__

LAUNCH = "from siftrec.cli.main import app; app()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_dir: Path, ann: str, port: int, threads: int) -> subprocess.Popen:
    """``siftrec serve`` on loopback, returned once ``/health`` answers 200 (at most 300 s)."""
    command = [sys.executable, "-c", LAUNCH, "serve", str(model_dir), "--port", str(port)]
    command += ["--ann", ann, "--threads", str(threads), "--log-level", "warning"]
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with status {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop_server(process)
    raise SystemExit("server did not answer /health within 300 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def drive(port: int, users: list, concurrency: int) -> tuple[np.ndarray, int, float]:
    """Send one request per user, ``concurrency`` at a time; (latencies s, failures, wall s)."""
    latencies = np.full(len(users), np.nan)
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for position in range(len(users)):
        queue.put_nowait(position)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
    ) as client:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                position = queue.get_nowait()
                body = {"user": users[position], "k": 10}
                start = time.perf_counter()
                try:
                    response = await client.post("/recommend", json=body)
                    ok = response.status_code == 200 and len(response.json()["items"]) == 10
                except httpx.HTTPError:
                    ok = False
                latencies[position] = time.perf_counter() - start
                failures += not ok

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, failures, wall


def run(model_dir: Path, ann: str, users: list, warmup: list, args: argparse.Namespace) -> None:
    port = free_port()
    process = start_server(model_dir, ann, port, args.threads)
    try:
        asyncio.run(drive(port, warmup, args.concurrency))
        load_before, cpu_before = os.getloadavg()[0], cpu_seconds(process.pid)
        latencies, failures, wall = asyncio.run(drive(port, users, args.concurrency))
        load_after, cpu = os.getloadavg()[0], cpu_seconds(process.pid) - cpu_before
    finally:
        stop_server(process)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) * 1000
    print(
        f"{ann:<6} {len(users):>8,} {failures:>6} {len(users) / wall:>8.1f} {p50:>7.1f} "
        f"{p95:>7.1f} {p99:>7.1f} {latencies.max() * 1000:>7.1f} "
        f"{cpu / len(users) * 1000:>9.2f}   {load_before:.1f} → {load_after:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--model-dir", type=Path, help="serve this model instead of fitting one")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ann", default="exact,faiss")
    parser.add_argument("--threads", type=int, default=1, help="siftrec serve --threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir
        if model_dir is None:
            path = args.data / "gowalla-lightgcn" / "train.txt.gz"
            train = read_interactions(path, format="lightgcn")
            model = IALS(factors=64, iterations=5, seed=args.seed, device="cpu").fit(train)
            model_dir = model.save(Path(tmp) / "ials")
        model = Recommender.load(model_dir)
        rng = np.random.default_rng(args.seed)
        ids = model.user_map_.ids
        users = ids[rng.integers(0, len(ids), args.requests)].tolist()
        warmup = ids[rng.integers(0, len(ids), args.warmup)].tolist()
        print(
            f"siftrec {__version__}; {model.name} with {model.n_users:,} users × "
            f"{model.n_items:,} items; {args.requests:,} requests, {args.concurrency} in "
            f"flight, k=10, one uvicorn worker, {args.threads} thread(s) per request; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        del model
        print(
            f"{'ann':<6} {'requests':>8} {'failed':>6} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} "
            f"{'p99 ms':>7} {'max ms':>7} {'server CPU ms/req':>9}   load average"
        )
        for ann in args.ann.split(","):
            run(model_dir, ann, users, warmup, args)


if __name__ == "__main__":
    main()
