import re

import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.models.mf import MFConfig
from siftrec.train.auto import auto_candidates

SMALL = ["demo", "--n-users", "150", "--n-items", "120"]


def run_demo(*args: str):
    result = CliRunner().invoke(app, [*SMALL, *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    return result


def table_rows(text: str) -> dict[str, list[str]]:
    """Header and rows of the rich tables in ``text``: first cell -> the other cells."""
    rows = {}
    for line in text.splitlines():
        if line[:1] in ("│", "┃"):
            cells = [cell.strip() for cell in re.split("[│┃]", line.strip()[1:-1])]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(scope="module")
def demo():
    result = run_demo()
    noise, bias = result.stdout.split("exposure bias:")
    return result.stdout, noise, bias


def test_demo_reports_every_entry_on_small_data(demo):
    out, noise, _ = demo
    for label in ("popularity", "ease", "MF + BPR", "MF + T-CE", "MF + NBPO", "MF + PLD"):
        assert label in table_rows(noise)
    assert "noise ROC-AUC" in out


def test_clean_upper_bound_beats_the_noisy_backbone(demo):
    rows = table_rows(demo[1])
    bound, noisy = rows["MF + BPR, clean (upper bound)"], rows["MF + BPR"]
    assert float(bound[0]) >= float(noisy[0]) and float(bound[1]) >= float(noisy[1])  # recall, ndcg


def test_auto_row_names_its_choice_among_the_candidates_and_their_validation_scores(demo):
    out, noise, _ = demo
    (label,) = [label for label in table_rows(noise) if label.startswith("MF + auto")]
    chosen = re.fullmatch(r"MF \+ auto \(chose (\S+)\)", label).group(1)
    plain = auto_candidates(MFConfig(objective="auto"))
    names = [c.objective if c.sampler == plain[0].sampler else c.label for c in plain]
    assert chosen in names
    assert (
        "auto_budget 90 epochs over 6 candidates (15 each, the latest epoch within 1% of the best "
        "kept)" in " ".join(out.split())
    )
    line = re.search(r"MF \+ auto, validation ndcg@20: (.*?); \d+ epochs trained", out).group(1)
    scores = dict(
        re.fullmatch(r"(\S+) ([\d.]+)(?: \(chosen\))?", part).groups() for part in line.split(", ")
    )
    assert list(scores) == names
    assert f"{chosen} {scores[chosen]} (chosen)" in line
    assert float(scores[chosen]) == max(float(score) for score in scores.values())


def test_exposure_part_compares_clicks_with_the_true_relevance(demo):
    _, _, bias = demo
    rows = table_rows(bias)
    assert list(rows) == ["model", "MF + BCE", "MF + BPR", "MF + Rel-MF", "MF + UBPR"]
    assert rows["model"][:4] == [
        "held-out clicks",
        "clicks, IPS",
        "clicks, SNIPS",
        "true relevance",
    ]
    winner = re.search(r"Best by the true relevance: (.+?)\.", " ".join(bias.split())).group(1)
    truth = {label: float(cells[3]) for label, cells in rows.items() if label != "model"}
    assert truth[winner] == max(truth.values())
    assert "true relevance: the" in bias and "pairs the users prefer" in " ".join(bias.split())


def test_demo_is_deterministic_given_the_seed(demo):
    def metrics(text):  # every row without its fit seconds
        return {label: cells[:-1] for label, cells in table_rows(text).items()}

    again = run_demo("--seed", "0").stdout
    assert metrics(again) == metrics(demo[0])
    other = run_demo("--seed", "1").stdout
    assert metrics(other) != metrics(demo[0])


@pytest.mark.parametrize("metric", ["map@20", "recall@5,ndcg@5", "snips-ndcg@20"])
def test_bad_bias_metric_is_refused_in_one_line(metric):
    result = CliRunner().invoke(app, [*SMALL, "--bias-metric", metric])
    assert result.exit_code == 1
    assert "--bias-metric takes one recall@K or ndcg@K" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
