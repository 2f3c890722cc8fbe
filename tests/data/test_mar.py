import gzip

import numpy as np
import pytest

from siftrec import SiftrecError
from siftrec.data.mar import mnar_split, read_coat, read_yahoo_r3, without_propensity


def write_matrix(path, matrix, gz=False):
    text = "\n".join(" ".join(str(v) for v in row) for row in matrix) + "\n"
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


@pytest.fixture
def coat_dir(tmp_path):
    write_matrix(tmp_path / "train.ascii", [[0, 5, 1], [3, 0, 0]])
    write_matrix(tmp_path / "test.ascii", [[4, 0, 0], [0, 2, 1]])
    write_matrix(tmp_path / "propensities.ascii", [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], gz=True)
    return tmp_path


def test_coat_reader_builds_rated_pairs_with_ratings_and_propensities(coat_dir):
    data = read_coat(coat_dir)
    assert data.name == "coat"
    train, test = data.train, data.test
    assert train.shape == test.shape == (2, 3)
    assert train.user_map == test.user_map and train.item_map == test.item_map
    np.testing.assert_array_equal(np.c_[train.users, train.items], [[0, 1], [0, 2], [1, 0]])
    np.testing.assert_array_equal(train.column("rating"), [5, 1, 3])
    np.testing.assert_allclose(train.column("propensity"), [0.2, 0.3, 0.4])
    np.testing.assert_array_equal(np.c_[test.users, test.items], [[0, 0], [1, 1], [1, 2]])
    np.testing.assert_array_equal(test.column("rating"), [4, 2, 1])
    assert not test.has_column("propensity")


def test_coat_reader_errors(tmp_path, coat_dir):
    with pytest.raises(SiftrecError, match="does not exist"):
        read_coat(tmp_path / "nowhere")
    (coat_dir / "test.ascii").write_text("4 0 0\n0 2\n")
    with pytest.raises(SiftrecError, match="rectangular"):
        read_coat(coat_dir)
    write_matrix(coat_dir / "test.ascii", [[4, 0], [0, 2]])
    with pytest.raises(SiftrecError, match="shape"):
        read_coat(coat_dir)
    write_matrix(coat_dir / "test.ascii", [[4, 0, 0], [0, 2.5, 1]])
    with pytest.raises(SiftrecError, match=r"ratings 0\.\.5"):
        read_coat(coat_dir)
    write_matrix(coat_dir / "test.ascii", [[4, 0, 0], [0, 2, 1]])
    write_matrix(coat_dir / "propensities.ascii", [[0.1, 0.0, 0.3], [0.4, 0.5, 0.6]], gz=True)
    with pytest.raises(SiftrecError, match="propensity"):
        read_coat(coat_dir)
    (coat_dir / "propensities.ascii.gz").unlink()
    with pytest.raises(SiftrecError, match=r"propensities.ascii.gz"):
        read_coat(coat_dir)


def test_yahoo_reader_shares_dense_id_maps(tmp_path):
    (tmp_path / "user.txt").write_text("0,2,5\n3,0,1\n")
    (tmp_path / "random.txt.gz").write_bytes(gzip.compress(b"1,4,4\n0,2,3\n"))
    data = read_yahoo_r3(tmp_path)
    assert data.train.shape == data.test.shape == (4, 5)
    np.testing.assert_array_equal(data.train.raw_users(), [0, 3])
    np.testing.assert_array_equal(data.train.users, [0, 3])  # raw id = index
    np.testing.assert_array_equal(data.test.items, [4, 2])
    np.testing.assert_array_equal(data.test.column("rating"), [4, 3])


def test_yahoo_reader_rejects_bad_ratings(tmp_path):
    (tmp_path / "user.txt").write_text("0,2,7\n")
    (tmp_path / "random.txt").write_text("0,1,3\n")
    with pytest.raises(SiftrecError, match=r"1\.\.5"):
        read_yahoo_r3(tmp_path)


def rating_histogram(log):
    return np.bincount(log.column("rating"), minlength=6)[1:].tolist()


def test_real_coat_counts(shared_data):
    if not (shared_data / "coat").is_dir():
        pytest.skip("coat/ not in the data directory")
    data = read_coat(shared_data / "coat")
    assert data.train.shape == (290, 300)
    assert len(data.train) == 6960
    assert set(data.train.user_counts().tolist()) == {24}
    assert rating_histogram(data.train) == [1901, 1437, 1717, 1275, 630]
    assert len(data.test) == 4640
    assert set(data.test.user_counts().tolist()) == {16}
    assert rating_histogram(data.test) == [1879, 899, 1002, 641, 219]
    theta = data.train.column("propensity")
    assert 0.0025 <= theta.min() and theta.max() < 0.6905  # matrix range: 0.0025 .. 0.690


def test_real_yahoo_counts(shared_data):
    if not (shared_data / "yahoo-r3").is_dir():
        pytest.skip("yahoo-r3/ not in the data directory")
    data = read_yahoo_r3(shared_data / "yahoo-r3")
    assert data.train.shape == (15400, 1000)
    assert len(data.train) == 311_704
    assert np.count_nonzero(data.train.user_counts()) == 15400
    assert rating_histogram(data.train) == [97_844, 39_652, 49_131, 48_480, 76_597]
    assert len(data.test) == 54_000
    counts = data.test.user_counts()
    assert np.count_nonzero(counts) == 5400 and set(counts[counts > 0].tolist()) == {10}
    assert rating_histogram(data.test) == [28_417, 13_064, 7_770, 3_371, 1_378]


def test_mnar_split_holds_out_random_rows_and_binarises(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{u},{i},{rng.integers(1, 6)}" for u in range(10) for i in range(0, 12, 2)]
    (tmp_path / "user.txt").write_text("\n".join(rows) + "\n")
    (tmp_path / "random.txt").write_text("0,1,4\n1,3,2\n")
    data = read_yahoo_r3(tmp_path)
    split = mnar_split(data, threshold=4, validation_ratio=0.3, seed=1)
    held = np.random.default_rng(1).random(len(data.train)) < 0.3
    kept = data.train.column("rating") >= 4
    assert len(split.train) == int((~held & kept).sum())
    assert len(split.validation) == int((held & kept).sum())
    assert split.test is data.test
    for part in (split.train, split.validation):
        assert (part.column("rating") >= 4).all()
    assert split.manifest["parameters"] == {"threshold": 4, "validation_ratio": 0.3}
    with pytest.raises(SiftrecError, match="validation_ratio"):
        mnar_split(data, validation_ratio=1.0)
    with pytest.raises(SiftrecError, match="no MNAR rating >= 6"):
        mnar_split(data, threshold=6)


def test_without_propensity_drops_only_that_column(coat_dir):
    train = read_coat(coat_dir).train
    dropped = without_propensity(train)
    assert dropped.columns.keys() == {"rating"}
    np.testing.assert_array_equal(dropped.items, train.items)
