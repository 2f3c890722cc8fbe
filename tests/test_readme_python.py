"""Every Python snippet of README.md's "Quick start (Python)" section runs as written.

The ``python`` blocks of that section are executed in order, in one namespace, in a temporary
directory holding ``ratings.csv`` (the built-in semi-synthetic log), so the README cannot drift
from the API.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from siftrec import SiftrecError
from siftrec.data.synthetic import generate
from siftrec.data.writers import write_interactions

ROOT = Path(__file__).resolve().parents[1]


def quick_start_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start \(Python\)\n(.*?)(?=^## )", text, re.DOTALL | re.M)
    assert section, "README.md has no '## Quick start (Python)' section"
    return re.findall(r"```python\n(.*?)```", section.group(1), flags=re.DOTALL)


def test_the_quick_start_shows_the_dataframe_path():
    code = "\n".join(quick_start_blocks())
    for call in ("pd.DataFrame", "recommend_raw", "similar_items_raw", "recommend_history_raw"):
        assert call in code


def test_the_python_quick_start_runs(tmp_path, monkeypatch, capsys):
    log = generate(n_users=120, n_items=80, seed=0).interactions
    write_interactions(log, tmp_path / "ratings.csv")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in quick_start_blocks():
        exec(compile(block, "README.md", "exec"), namespace)  # the README's own code
    printed = capsys.readouterr().out
    assert "recall@20" in printed
    model = namespace["model"]
    recs = model.recommend_raw(["u1", "u2"], k=5)
    assert isinstance(recs, pd.DataFrame)
    assert list(recs.columns) == ["user", "item", "rank", "score"]
    visitor = model.recommend_history_raw(namespace["visitor"], k=3)
    assert set(visitor["user"]) == {"visitor"} and not {"a", "b"} & set(visitor["item"])
    with pytest.raises(SiftrecError, match="unknown"):
        model.recommend_raw(["nobody"])
