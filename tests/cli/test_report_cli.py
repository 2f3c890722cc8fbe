"""``siftrec report``: a run and a model directory to HTML, loaded in headless Chromium.

The browser check needs Debian's ``chromium`` (the Makefile's test set-up installs it where it
can); without it that test skips with the reason. It takes a screenshot of each report, checks
that the PNG is non-empty, and that the page logged nothing to the console (an uncaught error or
a failed load would), and proves the console check works on a page that throws.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.data.synthetic import generate
from siftrec.data.writers import write_interactions

runner = CliRunner()
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
GRID = """
name = "tiny"
baseline = "popularity"
metrics = ["recall@10", "ndcg@10"]
seeds = [0, 1]

[[datasets]]
name = "synthetic"
synthetic = { n_users = 80, n_items = 60 }
split = { scheme = "random", test_ratio = 0.2 }

[[models]]
model = "popularity"

[[models]]
model = "itemknn"
params = { k = 20 }

[[noise]]
kind = "random"
ratios = [0.0, 0.2]
"""


def run(*args: str | Path):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    old = os.umask(0o022)
    try:
        return make_reports(tmp_path_factory.mktemp("report"))
    finally:
        os.umask(old)


def make_reports(tmp: Path) -> dict[str, Path]:
    """A bench run, a fitted model and the report of each, written under umask 022."""
    (tmp / "grid.toml").write_text(GRID)
    run("bench", tmp / "grid.toml", "--out", tmp / "run")
    data = generate(n_users=80, n_items=60, seed=1).interactions
    write_interactions(data, tmp / "log.csv")
    run("split", tmp / "log.csv", "--validation-ratio", "0.1", "--out", tmp / "split")
    split = tmp / "split"
    run(
        *("fit", "--train", split / "train.csv", "--validation", split / "validation.csv"),
        *("--model", "mf", "--param", "dim=8", "--param", "epochs=3", "--out", tmp / "mf"),
    )
    run("report", tmp / "run", "--out", tmp / "run.html")
    run(
        *("report", tmp / "mf", "--test", split / "test.csv", "--train", split / "train.csv"),
        *("--out", tmp / "model.html"),
    )
    return {"run": tmp / "run.html", "model": tmp / "model.html"}


def test_reports_are_written(reports):
    for path in reports.values():
        page = path.read_text(encoding="utf-8")
        assert page.count("<section id=") == 7
        assert "data:image/png;base64," in page
    model = reports["model"].read_text(encoding="utf-8")
    assert "ROC-AUC" in model and "validation ndcg@20" in model.split('id="training"')[1]


def test_every_output_follows_the_umask(reports):
    """Run directory, split, model directory and reports: 0644 files, 0755 folders."""
    root = reports["run"].parent
    found = 0
    for path in root.rglob("*"):
        expected = 0o755 if path.is_dir() else 0o644
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
        found += 1
    assert found > 20


def test_report_refusals(reports, tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "neither a bench run nor a model" in result.stderr
    result = runner.invoke(app, ["report", str(tmp_path / "none"), "--out", "r.html"])
    assert result.exit_code == 1 and "is not a directory" in result.stderr
    model_dir = reports["model"].parent / "mf"
    inside = model_dir / "report.html"
    result = runner.invoke(app, ["report", str(model_dir), "--out", str(inside)])
    assert result.exit_code == 1 and not inside.exists()


def screenshot(page: Path, png: Path, profile: Path) -> str:
    """Load ``page`` in headless Chromium, write ``png``; return the console lines it logged."""
    command = [
        BROWSER,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",  # tests may run as root (CI)
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        "--window-size=1280,2000",
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={png}",
        page.as_uri(),
    ]
    env = {**os.environ, "HOME": str(profile)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return "\n".join(line for line in done.stderr.splitlines() if re.search(r"CONSOLE", line))


@pytest.mark.skipif(BROWSER is None, reason="chromium not installed (apt install chromium)")
def test_reports_render_in_chromium_without_console_errors(reports, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>x</p><script>throw new Error("boom")</script>')
    assert "Uncaught Error: boom" in screenshot(bad, tmp_path / "bad.png", tmp_path / "p0")
    for index, (name, page) in enumerate(reports.items(), start=1):
        png = tmp_path / f"{name}.png"
        console = screenshot(page, png, tmp_path / f"p{index}")
        assert console == "", f"{name} report logged to the console:\n{console}"
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
