"""The one table writer: format by name, atomic, modes from the umask."""

from __future__ import annotations

import gzip
import os
import stat

import polars as pl
import pytest

from siftrec.data.writers import table_format, write_frame
from siftrec.errors import SiftrecError

FRAME = pl.DataFrame({"user": ["u1", "u2"], "item": ["007", "x,y"], "score": [0.5, None]})


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("recs.parquet", "parquet"),
        ("RECS.PARQUET", "parquet"),
        ("recs.csv", "csv"),
        ("recs.csv.gz", "csv"),
        ("recs.tsv", "tsv"),
        ("recs.tsv.gz", "tsv"),
        ("recs.txt", "csv"),
        ("recs", "csv"),
    ],
)
def test_table_format_by_name(name, fmt):
    assert table_format(name) == fmt


def test_parquet_is_real_parquet(tmp_path):
    path = write_frame(FRAME, tmp_path / "out.parquet")
    assert path.read_bytes()[:4] == b"PAR1"
    assert pl.read_parquet(path).equals(FRAME)


def test_text_formats_round_trip(tmp_path):
    csv = write_frame(FRAME, tmp_path / "out.csv")
    assert csv.read_text().splitlines()[0] == "user,item,score"
    assert pl.read_csv(csv, schema_overrides={"item": pl.String}).equals(FRAME)
    tsv = write_frame(FRAME, tmp_path / "out.tsv.gz")
    text = gzip.decompress(tsv.read_bytes()).decode()
    assert text.splitlines()[1] == "u1\t007\t0.5"
    multi = write_frame(FRAME, tmp_path / "out.txt", "csv", sep="::", header=False)
    assert multi.read_text().splitlines()[0] == "u1::007::0.5"


def test_gzip_output_is_deterministic(tmp_path):
    first = write_frame(FRAME, tmp_path / "a" / "out.csv.gz").read_bytes()
    second = write_frame(FRAME, tmp_path / "b" / "out.csv.gz").read_bytes()
    assert first == second


def test_refusals(tmp_path):
    with pytest.raises(SiftrecError, match="compressed already"):
        write_frame(FRAME, tmp_path / "out.parquet.gz")
    with pytest.raises(SiftrecError, match="cannot write format"):
        write_frame(FRAME, tmp_path / "out.csv", "xlsx")
    (tmp_path / "folder").mkdir()
    with pytest.raises(SiftrecError, match="is a directory"):
        write_frame(FRAME, tmp_path / "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]  # nothing half-written


def test_modes_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        for name in ("out.parquet", "out.csv", "out.tsv.gz", "new/dir/out.csv"):
            path = write_frame(FRAME, tmp_path / name)
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, name
        assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o755
        assert stat.S_IMODE((tmp_path / "new" / "dir").stat().st_mode) == 0o755
    finally:
        os.umask(old)
