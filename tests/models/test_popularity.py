import numpy as np

from siftrec import Interactions
from siftrec.models import Popularity


def test_ranks_by_user_count():
    data = Interactions.from_raw([1, 2, 3, 1, 2, 1], ["a", "a", "a", "b", "b", "c"])
    model = Popularity().fit(data)
    np.testing.assert_array_equal(model.score([0])[0], [3, 2, 1])
    items, _ = model.recommend([2], k=2)  # user 3 saw "a"
    assert list(data.item_map.to_raw(items[0])) == ["b", "c"]


def test_weighted_sums_weights():
    data = Interactions.from_raw([1, 2], ["a", "b"], weights=[1.0, 5.0])
    assert Popularity(weighted=True).fit(data).score([0])[0].tolist() == [1.0, 5.0]
    assert Popularity(weighted="false").fit(data).score([0])[0].tolist() == [1.0, 1.0]
