"""Atomic writes: refusals, directory swaps, leftovers of killed writers, modes from the umask."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from siftrec import atomic
from siftrec.atomic import (
    LeftoverWarning,
    atomic_directory,
    atomic_path,
    check_directory_target,
    clean_leftovers,
)
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.models import load_model
from siftrec.models.popularity import Popularity

MARKER = {"model": "popularity", "params": {}}


def write_model_dir(path: Path, content: str) -> None:
    """A directory siftrec recognises as a model directory, holding ``content``."""
    path.mkdir()
    (path / "model.json").write_text(json.dumps({**MARKER, "content": content}))
    (path / "a.txt").write_text(content)
    (path / "b.txt").write_text(content)


def content_of(path: Path) -> str:
    """The one content string a test directory holds; fails on a mix."""
    contents = {(path / name).read_text() for name in ("a.txt", "b.txt")}
    contents.add(json.loads((path / "model.json").read_text())["content"])
    assert len(contents) == 1, f"mixed directory: {contents}"
    return contents.pop()


def hidden_leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def fitted_model() -> Popularity:
    return Popularity().fit(Interactions.from_raw([1, 1, 2, 3], [10, 11, 10, 12]))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------------- what is never replaced
def test_a_directory_that_is_not_a_model_directory_is_refused_and_kept(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("user,item\n1,2\n")
    with pytest.raises(SiftrecError) as error:
        fitted_model().save(data)
    message = str(error.value)
    assert "\n" not in message
    assert "refusing to replace" in message and "not a siftrec model directory" in message
    assert "no model.json" in message
    assert sorted(p.name for p in data.iterdir()) == ["train.csv"]
    assert (data / "train.csv").read_text() == "user,item\n1,2\n"
    assert hidden_leftovers(tmp_path, "data") == []
    (tmp_path / "empty").mkdir()  # an existing empty directory is fine
    fitted_model().save(tmp_path / "empty")
    assert load_model(tmp_path / "empty").n_items == 3


def test_a_foreign_model_json_does_not_make_a_model_directory(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "model.json").write_text('{"name": "my app"}')
    with pytest.raises(SiftrecError, match="not written by siftrec"):
        fitted_model().save(tmp_path / "web")
    assert (tmp_path / "web" / "model.json").read_text() == '{"name": "my app"}'


@pytest.mark.parametrize("spelling", [".", "cwd"])
def test_the_current_directory_is_refused(tmp_path, monkeypatch, spelling):
    (tmp_path / "train.csv").write_text("user,item\n1,2\n")
    monkeypatch.chdir(tmp_path)
    target = "." if spelling == "." else str(tmp_path)
    with pytest.raises(SiftrecError, match="refusing to replace"):
        fitted_model().save(target)
    assert (tmp_path / "train.csv").read_text() == "user,item\n1,2\n"
    (tmp_path / "train.csv").unlink()
    with pytest.raises(SiftrecError, match="current directory"):  # even when empty
        fitted_model().save(target)


def test_a_file_target_is_refused_never_moved_aside(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("user,item\n1,2\n")
    with pytest.raises(SiftrecError, match="it is a file"):
        fitted_model().save(train)
    assert train.read_text() == "user,item\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]


def test_atomic_path_refuses_a_directory_target(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(SiftrecError, match="is a directory"), atomic_path(tmp_path / "out") as tmp:
        tmp.write_text("never")
    assert (tmp_path / "out" / "keep.txt").read_text() == "x"


def test_check_directory_target_accepts_new_empty_and_model_directories(tmp_path):
    (tmp_path / "empty").mkdir()
    write_model_dir(tmp_path / "model", "old")
    for name in ("new", "empty", "model"):
        assert check_directory_target(tmp_path / name) == tmp_path / name


# ---------------------------------------------------------------------- replacing a directory
def test_replacing_a_model_directory_keeps_other_files_and_the_old_until_done(tmp_path):
    target = tmp_path / "m"
    write_model_dir(target, "old")
    (target / "notes.txt").write_text("mine")
    (target / "plots").mkdir()
    (target / "plots" / "p.txt").write_text("plot")
    inode = (target / "notes.txt").stat().st_ino
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("new")
        raise RuntimeError("fit crashed")
    assert content_of(target) == "old"
    with atomic_directory(target) as tmp:
        assert content_of(target) == "old"  # untouched while the new one is written
        for name in ("a.txt", "b.txt"):
            (tmp / name).write_text("new")
        (tmp / "model.json").write_text(json.dumps({**MARKER, "content": "new"}))
    assert content_of(target) == "new"
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "notes.txt").stat().st_ino == inode  # carried as a hard link
    assert (target / "plots" / "p.txt").read_text() == "plot"
    assert hidden_leftovers(tmp_path, "m") == []


def test_stale_names_are_not_carried(tmp_path):
    target = tmp_path / "m"
    write_model_dir(target, "old")
    (target / "extra.npz").write_text("old part")
    with atomic_directory(target, stale={"extra.npz"}) as tmp:
        (tmp / "model.json").write_text(json.dumps(MARKER))
    assert sorted(p.name for p in target.iterdir()) == ["a.txt", "b.txt", "model.json"]


def test_a_symlinked_target_writes_into_the_real_directory(tmp_path):
    real = tmp_path / "real"
    write_model_dir(real, "old")
    (tmp_path / "link").symlink_to(real)
    fitted_model().save(tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert load_model(real).n_items == 3


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_replace_with_and_without_an_atomic_exchange(tmp_path, monkeypatch, exchange):
    exchanged = []
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda first, second: False)
    elif atomic._renameat2() is None:
        pytest.skip("renameat2 is not available on this platform")
    else:
        real = atomic._exchange

        def spy(first: Path, second: Path) -> bool:
            exchanged.append(real(first, second))
            return exchanged[-1]

        monkeypatch.setattr(atomic, "_exchange", spy)
    target = tmp_path / "m"
    write_model_dir(target, "old")
    with atomic_directory(target) as tmp:
        for name in ("a.txt", "b.txt"):
            (tmp / name).write_text("new")
        (tmp / "model.json").write_text(json.dumps({**MARKER, "content": "new"}))
    assert content_of(target) == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert exchanged == ([True] if exchange else [])


# ---------------------------------------------------------------------- temporary names, umask
def test_temporary_names_carry_the_pid(tmp_path):
    pattern = rf"\.out\.csv\.{os.getpid()}\.[0-9a-f]+\.tmp"
    with atomic_path(tmp_path / "out.csv") as tmp:
        assert re.fullmatch(pattern, tmp.name)
        tmp.write_text("x")
    with atomic_directory(tmp_path / "m") as tmp:
        assert re.fullmatch(rf"\.m\.{os.getpid()}\.[0-9a-f]+\.tmp", tmp.name)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_modes_follow_the_umask(tmp_path, umask_027):
    with atomic_path(tmp_path / "out.csv") as tmp:
        tmp.write_text("x")
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o640
    fitted_model().save(tmp_path / "m")
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o750
    assert {(p.stat().st_mode & 0o777) for p in (tmp_path / "m").iterdir()} == {0o640}


# ---------------------------------------------------------------------- leftovers
def test_leftovers_of_dead_writers_are_removed_and_reported(tmp_path):
    write_model_dir(tmp_path / "m", "current")
    pid = dead_pid()
    (tmp_path / f".m.{pid}.0a1b2c3d.tmp").mkdir()
    (tmp_path / f".m.{pid}.0a1b2c3d.tmp" / "a.txt").write_text("partial")
    (tmp_path / f".m.{pid}.old").mkdir()
    (tmp_path / f".out.csv.{pid}.99aa.tmp").write_text("partial")
    with pytest.warns(LeftoverWarning, match="removed 2 temporary entries"):
        fitted_model().save(tmp_path / "m")
    with pytest.warns(LeftoverWarning, match="removed 1 temporary entry"):
        atomic.write_text(tmp_path / "out.csv", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "out.csv"]


def test_a_backup_whose_target_is_missing_is_restored(tmp_path):
    pid = dead_pid()
    write_model_dir(tmp_path / f".m.{pid}.old", "old")
    with pytest.warns(LeftoverWarning, match="restored"):
        notes = clean_leftovers(tmp_path / "m")
    assert len(notes) == 1 and "restored" in notes[0]
    assert content_of(tmp_path / "m") == "old"


def test_leftovers_of_running_writers_and_other_names_are_kept(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = [
            f".m.{live.pid}.0a1b.tmp",
            f".m.{live.pid}.old",
            ".m.old",
            ".m.notes",
            ".mx.1.a.tmp",
        ]
        for name in kept:
            (tmp_path / name).mkdir()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert clean_leftovers(tmp_path / "m") == []
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    finally:
        live.kill()
        live.wait()


# ---------------------------------------------------------------------- kill at every step
DRIVER = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from siftrec import atomic

    target, point = Path(sys.argv[1]), sys.argv[2]
    calls = {"n": 0}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def killing(function, after):
        def wrapper(*args, **kwargs):
            result = function(*args, **kwargs)
            calls["n"] += 1
            if calls["n"] == after:
                die()
            return result
        return wrapper

    if "step" in point:  # die right after the n-th rename or exchange
        after = int(point[-1])
        os.rename = killing(os.rename, after)
        os.replace = killing(os.replace, after)
        if point.startswith("fallback"):
            atomic._exchange = lambda first, second: False
        elif hasattr(atomic, "_exchange"):
            atomic._exchange = killing(atomic._exchange, after)
    if point == "carry":
        atomic._carry_over = killing(atomic._carry_over, 1)
    with atomic.atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("new")
        if point == "body":
            die()
        (tmp / "b.txt").write_text("new")
        (tmp / "model.json").write_text(json.dumps({"model": "m", "params": {}, "content": "new"}))
    """
)

KILL_POINTS = [
    "body",
    "carry",
    "step1",
    "step2",
    "fallback-step1",
    "fallback-step2",
    "fallback-step3",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_writer_killed_at_any_step_leaves_old_or_new_never_a_mix(tmp_path, point):
    target = tmp_path / "m"
    write_model_dir(target, "old")
    (target / "notes.txt").write_text("mine")
    env = {**os.environ, "PYTHONPATH": str(Path(atomic.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", DRIVER, str(target), point], env=env, check=False)
    assert done.returncode in (0, -signal.SIGKILL)
    if point == "fallback-step1":  # killed between the two renames: nothing at the path
        assert not target.exists()
    else:  # the path always holds a complete directory, the user's file included
        assert content_of(target) in ("old", "new")
        assert (target / "notes.txt").read_text() == "mine"
    # the next write cleans up (restoring the backup first where the path was left empty)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with atomic_directory(target) as tmp:
            for name in ("a.txt", "b.txt"):
                (tmp / name).write_text("next")
            (tmp / "model.json").write_text(json.dumps({**MARKER, "content": "next"}))
    assert content_of(target) == "next"
    assert (target / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    leftover_notes = [str(w.message) for w in caught if w.category is LeftoverWarning]
    if point == "fallback-step1":
        assert any("restored" in note for note in leftover_notes)
