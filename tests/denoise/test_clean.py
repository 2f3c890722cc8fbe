import gzip

import numpy as np
import polars as pl
import pytest

from siftrec import SiftrecError
from siftrec.data.readers import read_interactions
from siftrec.denoise import clean as clean_module
from siftrec.denoise.clean import (
    METHODS,
    CleanMethod,
    drop_mask,
    method_model,
    method_score,
    write_scored_log,
)
from siftrec.models import MF

RAW_CSV = 'user,item,rating,note\nu007,0012,4.50,"a, quoted"\nu1,12,1.0,\nu007,3,3e0,x\n'


def test_method_table():
    assert set(METHODS) == {"loss", "tce", "rce", "nbpo", "pld"}
    assert (METHODS["loss"].objective, METHODS["loss"].sampler) == ("bce", "uniform")
    assert (METHODS["pld"].objective, METHODS["pld"].sampler) == ("bpr", "pld")
    assert METHODS["pld"].scores == ("percentile",)
    assert [METHODS[m].objective for m in ("tce", "rce", "nbpo")] == ["tce", "rce", "nbpo"]


def test_method_model_builds_mf_with_the_methods_parts():
    model = method_model("LOSS", epochs=3, dim=8)
    assert isinstance(model, MF)
    params = model.get_params()
    assert (params["objective"], params["sampler"], params["epochs"]) == ("bce", "uniform", 3)


def test_missing_parts_are_a_clear_error(monkeypatch):
    monkeypatch.setitem(METHODS, "tce", CleanMethod("not_an_objective"))
    with pytest.raises(SiftrecError, match="needs the objective 'not_an_objective'"):
        method_model("tce")
    monkeypatch.setitem(METHODS, "pld", CleanMethod("bpr", sampler="not_a_sampler(k=5)"))
    with pytest.raises(SiftrecError, match="needs the sampler 'not_a_sampler"):
        method_model("pld")


def test_method_model_errors():
    with pytest.raises(SiftrecError, match="unknown denoising method 'magic'; choose one of"):
        method_model("magic")
    with pytest.raises(SiftrecError, match="objective is set by the method"):
        method_model("loss", objective="bpr")
    with pytest.raises(SiftrecError, match="unknown hyperparameter 'colour'"):
        method_model("loss", colour="red")


def test_method_score_takes_the_first_registered(monkeypatch):
    monkeypatch.setitem(METHODS, "nbpo", CleanMethod("nbpo", scores=("no_such", "percentile")))
    assert method_score("nbpo") == "percentile"
    assert method_score("pld") == "percentile"
    monkeypatch.setattr(clean_module, "METHODS", {"x": CleanMethod("bce", scores=("nope",))})
    with pytest.raises(SiftrecError, match="needs one of the noise scores nope"):
        method_score("x")


def test_drop_mask():
    scores = np.array([0.5, 0.9, 0.1, 0.9, 0.3])
    np.testing.assert_array_equal(drop_mask(scores), [False] * 5)
    np.testing.assert_array_equal(drop_mask(scores, threshold=0.4), [1, 1, 0, 1, 0])
    # top 40 % = 2 rows; the tie at 0.9 is broken by row order
    np.testing.assert_array_equal(drop_mask(scores, drop_top=0.4), [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(drop_mask(scores, drop_top=0.2), [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(drop_mask(scores, drop_top=1.0), [1] * 5)
    with pytest.raises(SiftrecError, match="not both"):
        drop_mask(scores, threshold=0.1, drop_top=0.1)
    with pytest.raises(SiftrecError, match=r"in \[0, 1\]"):
        drop_mask(scores, drop_top=1.5)


def score_and_write(source, out, drop=None, **read):
    data = read_interactions(source, **read)
    scores = np.arange(len(data)) / 10
    write_scored_log(source, data, scores, out, drop=drop, **read)
    return scores


def test_csv_keeps_raw_values_rows_and_order(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text(RAW_CSV)
    score_and_write(source, tmp_path / "out.csv")
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "user,item,rating,note,noise_score"
    assert lines[1:] == ['u007,0012,4.50,"a, quoted",0.0', "u1,12,1.0,,0.1", "u007,3,3e0,x,0.2"]
    assert source.read_text() == RAW_CSV  # input untouched


def test_drop_and_replace_an_existing_score_column(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text("user,item,noise_score\n1,2,9\n1,3,9\n2,2,9\n")
    score_and_write(source, tmp_path / "out.csv", drop=np.array([False, True, False]))
    assert (tmp_path / "out.csv").read_text() == "user,item,noise_score\n1,2,0.0\n2,2,0.2\n"


def test_headerless_tsv_stays_headerless(tmp_path):
    source = tmp_path / "log.tsv"
    source.write_text("1\t10\t5\n2\t11\t3\n")
    score_and_write(source, tmp_path / "out.tsv", columns=["user", "item", "rating"])
    assert (tmp_path / "out.tsv").read_text() == "1\t10\t5\t0.0\n2\t11\t3\t0.1\n"


def test_multi_character_separator_and_gzip(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text("user::item\na::1\nb::2\n")
    score_and_write(source, tmp_path / "out.csv.gz", sep="::")
    text = gzip.decompress((tmp_path / "out.csv.gz").read_bytes()).decode()
    assert text == "user::item::noise_score\na::1::0.0\nb::2::0.1\n"


def test_parquet_keeps_dtypes(tmp_path):
    source = tmp_path / "log.parquet"
    frame = pl.DataFrame({"user": ["a", "b", "a"], "item": [3, 1, 2], "t": [1.5, 2.5, 3.5]})
    frame.write_parquet(source)
    scores = score_and_write(source, tmp_path / "out.parquet")
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out.drop("noise_score").equals(frame)
    np.testing.assert_array_equal(out["noise_score"].to_numpy(), scores)


def test_other_formats_are_written_from_the_log(tmp_path):
    source = tmp_path / "train.rating"
    source.write_text("0\t5\t1\n0\t6\t0\n1\t5\t1\n")
    score_and_write(source, tmp_path / "out.csv")
    out = pl.read_csv(tmp_path / "out.csv")
    assert out.columns == ["user", "item", "is_noise", "noise_score"]
    assert out["is_noise"].to_list() == [False, True, False]
    with pytest.raises(SiftrecError, match="cannot infer an output format"):
        score_and_write(source, tmp_path / "out.txt")


def test_out_name_picks_the_format(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text(RAW_CSV)
    scores = score_and_write(source, tmp_path / "out.parquet")
    out = pl.read_parquet(tmp_path / "out.parquet")  # real Parquet, not CSV text
    assert out.columns == [*pl.read_csv(source, infer_schema=False).columns, "noise_score"]
    assert out["item"].to_list() == ["0012", "12", "3"]  # raw spelling kept
    np.testing.assert_array_equal(out["noise_score"].to_numpy(), scores)
    score_and_write(tmp_path / "out.parquet", tmp_path / "back.tsv")
    assert pl.read_csv(tmp_path / "back.tsv", separator="\t").height == out.height


def test_output_errors(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text(RAW_CSV)
    with pytest.raises(SiftrecError, match="compressed already"):
        score_and_write(source, tmp_path / "out.parquet.gz")
    with pytest.raises(SiftrecError, match="is the input file"):
        score_and_write(source, source)
    data = read_interactions(source)
    with pytest.raises(SiftrecError, match="has 3 rows but 2 scores"):
        write_scored_log(source, data, np.zeros(2), tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
