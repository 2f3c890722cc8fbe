"""``siftrec bench GRID --out DIR`` and ``siftrec bench plot DIR``: files, resume, errors, the
preflight and the exit status."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.data.synthetic import generate
from siftrec.data.writers import write_interactions

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


def test_bad_values_refuse_the_grid_before_anything_runs(tmp_path):
    grid = tmp_path / "grid.toml"
    text = SMOKE.read_text().replace("params = { l2 = 50.0 }", "params = { l2 = -1.0 }")
    grid.write_text(text.replace("k = [20, 100]", 'k = [20, "many"]'))
    result = bench(grid, "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {grid}: cell synthetic/itemknn: search.k[1] = 'many' is not an integer",
        f"error: {grid}: cell synthetic/ease: params: ease: l2 must be > 0, got -1.0",
    ]
    assert not (tmp_path / "run").exists()


def failing_grid(tmp_path: Path, seeds: str) -> tuple[Path, Path]:
    """A grid whose file data set passes the preflight (the file exists, its name gives the
    format) but cannot be read (no user column): its cells fail, the synthetic ones run."""
    data = generate(n_users=60, n_items=40, seed=0).interactions
    write_interactions(data.subset(np.arange(len(data)) % 5 == 0), tmp_path / "test.csv")
    bad = tmp_path / "train.csv"
    bad.write_text("a,b\n1,2\n")
    grid = tmp_path / "grid.toml"
    grid.write_text(
        f"""seeds = {seeds}
metrics = ["recall@10"]

[[datasets]]
name = "synthetic"
synthetic = {{ n_users = 60, n_items = 40 }}
split = {{ scheme = "random", test_ratio = 0.2 }}

[[datasets]]
name = "bad"
train = "{bad}"
test = "{tmp_path / "test.csv"}"

[[models]]
model = "popularity"

[[models]]
model = "ease"
params = {{ l2 = 50.0 }}
"""
    )
    return grid, bad


ERROR = "(train.csv: no user column (looked for user/user_id/userid/uid); found columns: …)"


def test_failed_cells_exit_1_after_the_rest_ran_and_resume_tells_the_truth(tmp_path):
    grid, bad = failing_grid(tmp_path, seeds="[0, 1, 2]")
    out = tmp_path / "run"
    first = bench(grid, "--out", out)
    assert first.exit_code == 1, first.stderr
    assert "12 cells run (6 failed)" in first.stderr
    assert first.stderr.strip().splitlines()[-1] == (
        f"error: 6 of 12 cells failed: bad/popularity/seed0 {ERROR}, bad/ease/seed0 {ERROR}, "
        f"bad/popularity/seed1 {ERROR} and 3 more; all errors: {out / 'summary.md'}"
    )
    frame = pl.read_parquet(out / "results.parquet")
    assert frame.filter(pl.col("dataset") == "synthetic")["status"].to_list() == ["ok"] * 6

    resumed = bench(grid, "--out", out)
    assert resumed.exit_code == 1
    assert "0 cells run (0 failed), 12 already done" in resumed.stderr
    assert (
        resumed.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "and 3 more; 6 failed in an earlier run (--retry-failed runs them again); "
            f"all errors: {out / 'summary.md'}"
        )
    )
    again = bench(grid, "--out", out, "--retry-failed")
    assert again.exit_code == 1 and "6 cells run (6 failed)" in again.stderr
    assert again.stderr.strip().splitlines()[-1].startswith("error: 6 of 12 cells failed: ")

    plot = bench("plot", out)
    assert plot.exit_code == 0, plot.stderr
    assert (out / "plots" / "synthetic_noise.png").is_file()
    assert f"6 failed cells left out of the plots (see {out / 'summary.md'})" in plot.stderr

    data = generate(n_users=60, n_items=40, seed=0).interactions
    write_interactions(data.subset(np.arange(len(data)) % 5 != 0), bad)
    fixed = bench(grid, "--out", out, "--retry-failed")
    assert fixed.exit_code == 0, fixed.stderr
    assert "6 cells run (0 failed), 6 already done" in fixed.stderr
    assert "error" not in fixed.stderr


def test_a_short_failure_list_is_complete(tmp_path):
    grid, _ = failing_grid(tmp_path, seeds="[0]")
    result = bench(grid, "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: 2 of 4 cells failed: bad/popularity/seed0 {ERROR}, bad/ease/seed0 {ERROR}; "
        f"all errors: {tmp_path / 'run' / 'summary.md'}"
    )


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
