import numpy as np
import polars as pl
import pytest

from siftrec import SiftrecError
from siftrec.data.ids import MISSING_ID_SPELLINGS, IdMap, check_missing_ids, missing_ids

MISSING = [
    "",
    "  ",
    "NA",
    "na",
    " N/A ",
    "NaN",
    "nan",
    "NULL",
    "null",
    "None",
    "NONE",
    "nil",
    "\tNil\n",
]
PRESENT = ["NAB", "nancy", "nil0", "NULLS", "n a", "N/A/", "Nonee", "0", "none_", "x" * 40, "nä"]


def test_spellings_are_the_documented_ones():
    assert set(MISSING_ID_SPELLINGS) == {"", "na", "n/a", "nan", "null", "none", "nil"}


def test_missing_ids_in_text_matches_the_plain_rule():
    values = MISSING + PRESENT + ["\u00a0NA\u00a0", "İ"]
    expected = [v.strip().lower() in MISSING_ID_SPELLINGS for v in values]
    assert expected == [True] * len(MISSING) + [False] * len(PRESENT) + [True, False]
    assert missing_ids(np.array(values)).tolist() == expected
    assert missing_ids(np.array(values, dtype=object)).tolist() == expected
    assert missing_ids(pl.Series(values)).tolist() == expected


def test_missing_ids_of_other_types():
    assert missing_ids(np.array([1.0, np.nan])).tolist() == [False, True]
    assert missing_ids(np.array([3, 4])).tolist() == [False, False]
    assert missing_ids(np.array(["a", None, 1.5, np.nan], dtype=object)).tolist() == [
        False,
        True,
        False,
        True,
    ]
    assert missing_ids(pl.Series([1, None])).tolist() == [False, True]
    assert missing_ids(pl.Series([1.0, float("nan"), None])).tolist() == [False, True, True]
    assert missing_ids(np.array([], dtype=str)).tolist() == []
    assert missing_ids(np.array(["", ""])).tolist() == [True, True]


def test_check_missing_ids_message_names_file_column_count_and_first_row():
    values = np.array(["a", "b", "NA", "c", "null", ""])
    with pytest.raises(SiftrecError) as info:
        check_missing_ids(values, "user", "ratings.csv", "userId")
    assert str(info.value) == (
        "ratings.csv: 3 rows have a missing user id in column 'userId' "
        "(first at row 3: 'NA'); drop them or fill them"
    )
    with pytest.raises(SiftrecError, match=r"^1 row has a missing id \(first at row 7: empty\)"):
        check_missing_ids(pl.Series(["1", ""]), rows=np.array([4, 7]))
    check_missing_ids(np.array(PRESENT), "item", "log.csv", "item")  # no error


@pytest.mark.parametrize("spelling", ["NA", "NaN", "null", "N/A", " none ", ""])
def test_to_index_refuses_missing_ids_instead_of_calling_them_unknown(spelling):
    for id_map, known in ((IdMap(np.array([1, 2])), "2"), (IdMap(np.array(["a", "b"])), "b")):
        assert id_map.to_index(np.array([known, "zzz"])).tolist() == [1, -1]
        with pytest.raises(SiftrecError, match=r"1 row has a missing user id .first at row 2"):
            id_map.to_index(np.array([known, spelling]), what="user")
    with pytest.raises(SiftrecError, match="missing id"):
        IdMap(np.array([1, 2])).to_index(np.array([2.0, np.nan]))
    legacy = IdMap(np.array(["NA", "b"]))  # a saved map from before: it still loads
    assert legacy.to_index(np.array(["b"])).tolist() == [1]


def test_to_index_accepts_ids_that_only_look_like_missing_ones():
    id_map = IdMap(np.array(PRESENT))
    assert id_map.to_index(np.array(PRESENT[::-1])).tolist() == list(range(len(PRESENT)))[::-1]
