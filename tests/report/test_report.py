"""The HTML report: every section, self-contained, from a tiny bench run and a model dir."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from siftrec.benchgrid import parse_grid, run_grid
from siftrec.data.splits import split_interactions
from siftrec.data.synthetic import generate
from siftrec.errors import SiftrecError
from siftrec.models import get_model_class
from siftrec.report import SECTIONS, build_report, write_report

TINY_GRID = {
    "name": "tiny",
    "baseline": "popularity",
    "metrics": ["recall@10", "ndcg@10"],
    "tune_metric": "ndcg@10",
    "seeds": [0, 1],
    "datasets": [
        {
            "name": "synthetic",
            "synthetic": {"n_users": 80, "n_items": 60},
            "split": {"scheme": "random", "test_ratio": 0.2},
        }
    ],
    "models": [{"model": "popularity"}, {"model": "itemknn", "params": {"k": 20}}],
    "noise": [{"kind": "random", "ratios": [0.0, 0.2]}],
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    summary = run_grid(parse_grid(TINY_GRID), out, progress=False)
    assert summary.failed == 0
    return out


@pytest.fixture(scope="module")
def model_case(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "mf"
    data = generate(n_users=80, n_items=60, seed=1).interactions
    split = split_interactions(data, "random", test_ratio=0.2, seed=0)
    model = get_model_class("mf")(dim=8, epochs=3, seed=0, device="cpu").fit(split.train)
    model.save(out)
    return out, split


def check_page(page: str) -> None:
    """Every section present, no reference to anything outside the page, a sane size."""
    assert page.startswith("<!DOCTYPE html>")
    for sid, name in SECTIONS:
        assert f'<section id="{sid}"><h2>{html.escape(name)}</h2>' in page, sid
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert 10_000 < len(page.encode("utf-8")) < 5_000_000


def images(page: str) -> int:
    return len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', page))


def test_run_report(run_dir):
    page = build_report(run_dir)
    check_page(page)
    results = page.split('<section id="results">')[1].split("</section>")[0]
    assert "± " in results and "p=" in results and "itemknn vs popularity" in results
    noise = page.split('<section id="noise">')[1].split("</section>")[0]
    assert images(noise) == 1  # two noise ratios: a robustness curve
    per_user = page.split('<section id="per-user">')[1].split("</section>")[0]
    assert images(per_user) == 1
    assert "&quot;baseline&quot;: &quot;popularity&quot;" in page  # the configuration


def test_model_report_with_test_and_flagged_train(model_case, tmp_path):
    directory, split = model_case
    out = write_report(directory, tmp_path / "r.html", test=split.test, train=split.train)
    page = out.read_bytes().decode("utf-8")  # valid UTF-8
    check_page(page)
    sections = {
        sid: page.split(f'<section id="{sid}">')[1].split("</section>")[0] for sid, _ in SECTIONS
    }
    assert "recall@20" in sections["results"] and "± " in sections["results"]
    assert images(sections["training"]) == 1 and "3 epochs" in sections["training"]
    assert "ROC-AUC" in sections["detection"] and images(sections["detection"]) == 1
    assert images(sections["per-user"]) == 1
    assert images(sections["popularity"]) == 1 and "held-out clicks" in sections["popularity"]
    assert "&quot;dim&quot;: 8" in sections["config"]


def test_model_report_without_files_says_why(model_case):
    directory, _ = model_case
    page = build_report(directory)
    check_page(page)
    assert page.count('class="note"') >= 4  # results, per-user, detection, noise explain
    assert "No test file given" in page


def test_not_a_run_or_model(tmp_path):
    with pytest.raises(SiftrecError, match="neither a bench run nor a model directory"):
        build_report(tmp_path)


def test_text_is_escaped(run_dir, tmp_path):
    meta = json.loads((run_dir / "grid.json").read_text())
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / "results.parquet").write_bytes((run_dir / "results.parquet").read_bytes())
    (copy / "grid.json").write_text(json.dumps({**meta, "name": "<b>x</b>"}))
    page = build_report(copy)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    check_page(page)  # per-user files missing: the sections still render
