"""Every registered model passes the contract of ``siftrec.testing.models``."""

from __future__ import annotations

from collections.abc import Callable

from siftrec.evaluate import evaluate
from siftrec.models import Popularity
from siftrec.testing import MODEL_CASES, learning_split, parametrize_model_checks


@parametrize_model_checks()
def test_model_contract(check: Callable[[], None]) -> None:
    check()


def test_personalised_floors_are_above_the_popularity_baseline():
    """A floor a model could reach by recommending popular items would not show it learns."""
    train, test = learning_split()
    baseline = evaluate(Popularity().fit(train), test, "ndcg@20").metrics["ndcg@20"]
    floors = {n: c.ndcg_floor for n, c in MODEL_CASES.items() if n not in ("random", "popularity")}
    below = {name: floor for name, floor in floors.items() if floor <= baseline}
    assert not below, f"floors at or below popularity's {baseline:.4f}: {below}"
