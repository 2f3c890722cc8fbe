"""The default data directory: ``$SIFTREC_DATA``, else a per-user cache directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from siftrec.data.location import default_data_dir, user_cache_dir

posix_only = pytest.mark.skipif(
    sys.platform in ("darwin", "win32"), reason="macOS and Windows use the platform's cache dir"
)


def test_siftrec_data_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("SIFTREC_DATA", str(tmp_path / "mine"))
    assert default_data_dir() == tmp_path / "mine"
    monkeypatch.setenv("SIFTREC_DATA", "~/data")
    assert default_data_dir() == Path.home() / "data"


@posix_only
def test_default_is_the_xdg_cache_dir_whatever_the_working_directory(monkeypatch, tmp_path):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "repo" / "shared" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.setenv("SIFTREC_DATA", "")  # empty counts as unset
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_data_dir() == tmp_path / "cache" / "siftrec" / "data"
    assert user_cache_dir() == tmp_path / "cache" / "siftrec"


@posix_only
def test_default_without_xdg_is_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("SIFTREC_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_data_dir() == tmp_path / ".cache" / "siftrec" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG rule ignores relative paths
    assert default_data_dir() == tmp_path / ".cache" / "siftrec" / "data"
