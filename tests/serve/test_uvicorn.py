"""One real ``siftrec serve`` process on a free loopback port, started and stopped cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_process_answers_and_stops(ials_dir: Path) -> None:
    port = free_port()
    command = [sys.executable, "-c", "from siftrec.cli.main import app; app()", "serve"]
    command += [str(ials_dir), "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SIFTREC_DEBUG": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not answer /health within 60 s"
            time.sleep(0.2)
        body = httpx.post(f"{base}/recommend", json={"user": "u1", "k": 3}).json()
        assert len(body["items"]) == 3
        assert httpx.post(f"{base}/recommend", json={"user": "u1", "k": 0}).status_code == 422
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0
