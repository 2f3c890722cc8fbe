"""``siftrec bench GRID --out DIR`` and ``siftrec bench plot DIR``: files, resume, errors."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from siftrec.cli.main import app

runner = CliRunner()
SMOKE = Path(__file__).resolve().parents[2] / "bench" / "grids" / "smoke.toml"


def bench(*args: str | Path):
    return runner.invoke(app, ["bench", *(str(a) for a in args)])


def assert_one_line_failure(result, fragment: str) -> None:
    assert result.exit_code == 1
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bench_run_resume_and_plot(tmp_path):
    out = tmp_path / "run"
    first = bench(SMOKE, "--out", out)
    assert first.exit_code == 0, first.stderr
    assert "12 cells run (0 failed), 0 already done" in first.stderr
    for name in ("results.parquet", "summary.md", "grid.json"):
        assert (out / name).is_file()
    assert pl.read_parquet(out / "results.parquet").height == 12
    before = (out / "results.parquet").read_bytes()
    second = bench(SMOKE, "--out", out)
    assert second.exit_code == 0 and "0 cells run (0 failed), 12 already done" in second.stderr
    assert (out / "results.parquet").read_bytes() == before
    plot = bench("plot", out)
    assert plot.exit_code == 0, plot.stderr
    assert (out / "plots" / "synthetic_noise.png").is_file()
    assert (out / "plots" / "synthetic_fit_time.png").is_file()


def test_failing_cell_does_not_fail_the_command(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(SMOKE.read_text().replace("params = { l2 = 50.0 }", "params = { l2 = -1.0 }"))
    result = bench(grid, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    assert "(4 failed)" in result.stderr
    frame = pl.read_parquet(tmp_path / "run" / "results.parquet")
    failed = frame.filter(pl.col("status") == "failed")
    assert set(failed["model"]) == {"ease"} and all("l2" in e for e in failed["error"])


def test_errors_are_one_line(tmp_path):
    assert_one_line_failure(bench(SMOKE), "--out")
    assert_one_line_failure(bench(tmp_path / "none.toml", "--out", tmp_path), "does not exist")
    assert_one_line_failure(bench("plot"), "RUN_DIR")
    assert_one_line_failure(bench("plot", tmp_path), "not a bench run directory")
    assert_one_line_failure(bench(SMOKE, tmp_path), "unexpected extra argument")


def test_only_runs_the_named_models_and_resume_runs_the_rest(tmp_path):
    out = tmp_path / "run"
    first = bench(SMOKE, "--out", out, "--only", "popularity")
    assert first.exit_code == 0, first.stderr
    assert "4 cells run (0 failed), 0 already done" in first.stderr
    assert set(pl.read_parquet(out / "results.parquet")["model"]) == {"popularity"}
    rest = bench(SMOKE, "--out", out)
    assert rest.exit_code == 0 and "8 cells run (0 failed), 4 already done" in rest.stderr
    assert pl.read_parquet(out / "results.parquet").height == 12
    assert_one_line_failure(bench(SMOKE, "--out", out, "--only", "nosuch"), "nosuch")
