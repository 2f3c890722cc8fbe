"""The version is written once, in siftrec.version, and everything reads it from there."""

import json
import tomllib
from pathlib import Path

import siftrec
from siftrec.data.splits import split_interactions
from siftrec.models import Popularity
from siftrec.testing import contract_log
from siftrec.version import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_reads_the_version_from_siftrec_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "siftrec.version.__version__"


def test_saved_models_and_split_manifests_record_the_version(tmp_path):
    assert siftrec.__version__ == __version__
    data = contract_log()
    meta = json.loads((Popularity().fit(data).save(tmp_path / "m") / "model.json").read_text())
    assert meta["siftrec_version"] == __version__
    assert split_interactions(data, seed=0).manifest["siftrec_version"] == __version__
