"""``siftrec serve`` and ``siftrec export`` on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from tests.serve.conftest import small_log

runner = CliRunner()


def _model(tmp_path: Path) -> Path:
    from siftrec.models import IALS

    return IALS(factors=4, iterations=1, seed=0, device="cpu").fit(small_log()).save(tmp_path / "m")


def test_export_command(tmp_path: Path) -> None:
    model_dir = _model(tmp_path)
    result = runner.invoke(
        app, ["export", str(model_dir), "--out", str(tmp_path / "x"), "--top-k", "3"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "x" / "export.json").read_text())
    assert meta["top_k"] == 3 and "topk.parquet" in meta["files"]
    bad = runner.invoke(
        app, ["export", str(model_dir), "--out", str(tmp_path / "y"), "--top-k", "0"]
    )
    assert bad.exit_code == 1 and "top_k must be a positive integer" in bad.output


def test_serve_command_refuses_bad_settings(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 1 and "not a siftrec model directory" in result.output
    model_dir = _model(tmp_path)
    result = runner.invoke(
        app, ["serve", str(model_dir), "--workers", "2", "--admin-token", "x" * 20]
    )
    assert result.exit_code == 1 and "use --watch" in result.output
    result = runner.invoke(app, ["serve", str(model_dir), "--ann", "annoy"])
    assert result.exit_code == 1 and "unknown ANN backend" in result.output


def test_serve_without_the_extra_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the serve extra were missing
    result = runner.invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 1
    assert "pip install 'siftrec[serve]'" in result.output


def test_worker_processes_build_the_app_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siftrec.serve.app import SETTINGS_ENV, app_from_env

    settings = {"model_dir": str(_model(tmp_path)), "ann": "faiss", "max_k": 7}
    monkeypatch.setenv(SETTINGS_ENV, json.dumps(settings))
    service = app_from_env().state.holder.service
    assert service.ann == "faiss" and service.model.name == "ials"
