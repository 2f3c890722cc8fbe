"""Train/validation/test splits of an :class:`Interactions` log, with a reproducible manifest.

Schemes (``split_interactions(data, scheme, ...)``):

* ``random`` — per-user random holdout. Each user with ``n`` interactions gives
  ``round(test_ratio·n)`` of them to test and ``round(validation_ratio·n)`` to validation (round
  half up); at least one interaction always stays in train, so single-interaction users keep theirs.
* ``leave-last`` — per user, the last ``k`` interactions by ``timestamp`` go to test and the
  ``validation_k`` before them to validation; equal timestamps are ordered by row order (a later
  row is later). Users with ``≤ k`` interactions keep everything in train; users with
  ``≤ k + validation_k`` give nothing to validation (each held-out user gives exactly ``k`` test and
  ``validation_k`` validation interactions).
* ``temporal`` — one global cut in time. ``cut`` is either a fraction in (0, 1) (the latest
  ``round(cut·n)`` interactions by timestamp go to test, equal timestamps ordered by row order) or a
  point in time: an integer timestamp or an ISO date/datetime string; interactions at or after it go
  to test. ``validation_cut`` works the same way for the validation part, which lies just before
  test (a fraction takes the ``round(validation_cut·n)`` interactions preceding the test part).
  ``cut=None`` means ``cut=test_ratio``; ``validation_cut=None`` means ``validation_ratio`` (no
  validation when it is 0). ISO dates without a time zone are UTC; against a numeric timestamp
  column they are converted to Unix seconds, so that column must hold seconds.
* ``strong`` — strong generalisation (Mult-VAE): ``heldout_users`` users (a count when an int
  ``≥ 1``, a fraction of the users with interactions when a float in (0, 1)) are drawn at random for
  test and, when ``validation_ratio > 0``, the same number of other users for validation (the value
  of ``validation_ratio`` only switches validation on). Train holds every interaction of the other
  users. Each held-out user's interactions are split at random: ``⌊(1 − fold_in_ratio)·n⌋`` are the
  evaluation target (``test``/``validation``), the rest the model's input (``test_fold_in``/
  ``validation_fold_in``); as in Mult-VAE, users with too few interactions have no target.
  Items that only held-out users clicked stay in the shared item map.
* ``given`` — pre-split files: :func:`split_given` re-indexes the parts onto shared maps.

Each scheme is a small frozen object carrying only its own options (:class:`RandomHoldout`,
:class:`LeaveLast`, :class:`TemporalCut`, :class:`StrongGeneralisation`), checked when it is built;
``split_interactions(data, "random", test_ratio=0.1)`` builds one from the scheme's name, and an
option the scheme does not use is refused. Every part of a split shares the input's
``user_map``/``item_map`` objects, so indices agree across parts. Randomness comes from
``np.random.default_rng(seed)`` only: a split is a pure function of (data, scheme, seed, options),
and ``manifest["parameters"]`` holds the scheme's options so the split can be reproduced exactly
(:func:`scheme_from_manifest`).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypedDict, Unpack

import numpy as np

from siftrec.atomic import DirectoryKind, atomic_directory
from siftrec.data.interactions import Interactions
from siftrec.data.manifest import (
    MANIFEST_NAME,
    PART_NAMES,
    fingerprint_file,
    read_split_manifest,
    split_id,
)
from siftrec.data.writers import WRITE_FORMATS, write_interactions
from siftrec.errors import SiftrecError
from siftrec.version import __version__

SCHEMES: tuple[str, ...] = ("random", "leave-last", "temporal", "strong", "given")

#: What a split folder is: siftrec replaces a directory only when it holds such a manifest.
SPLIT_FOLDER = DirectoryKind("siftrec split folder", MANIFEST_NAME, ("scheme", "files"))

_TRAIN, _VALIDATION, _TEST = 0, 1, 2


@dataclass(frozen=True)
class Split:
    """The parts of one split and its manifest (scheme, seed, parameters, counts, version)."""

    train: Interactions
    test: Interactions
    validation: Interactions | None = None
    test_fold_in: Interactions | None = None
    validation_fold_in: Interactions | None = None
    manifest: dict = field(default_factory=dict)

    def parts(self) -> dict[str, Interactions]:
        """The parts that are present, by name, in :data:`PART_NAMES` order."""
        present = {name: getattr(self, name) for name in PART_NAMES}
        return {name: part for name, part in present.items() if part is not None}

    def save(self, directory: str | Path, write_format: str = "csv") -> None:
        """Write every part as ``DIR/<part>.<format>`` (raw ids) plus ``DIR/manifest.json``.

        Columns are ``user,item``, ``weight`` when any part has a weight other than 1, then the side
        columns. The manifest adds ``files``, a sha256 ``fingerprints`` entry per part and a
        ``split_id``. The folder is written as a unit: complete beside ``DIR``, then swapped in
        (:func:`siftrec.atomic.atomic_directory`), so ``DIR`` holds the old split or the new one,
        never a mix. ``DIR`` may be new, empty or an earlier split folder; in the latter, files
        other than split parts and the manifest are carried into the new folder. Any other
        existing path is refused.
        """
        if write_format not in WRITE_FORMATS:
            raise SiftrecError(
                f"cannot write format {write_format!r}; choose one of {WRITE_FORMATS}"
            )
        parts = self.parts()
        include_weight = any(bool(np.any(part.weights != 1.0)) for part in parts.values())
        files = {name: f"{name}.{write_format}" for name in parts}
        with atomic_directory(directory, SPLIT_FOLDER, _split_files(Path(directory))) as tmp:
            for name, part in parts.items():
                write_interactions(part, tmp / files[name], write_format, include_weight)
            fingerprints = {name: fingerprint_file(tmp / file) for name, file in files.items()}
            manifest = {
                **self.manifest,
                "format": write_format,
                "files": files,
                "fingerprints": fingerprints,
                "split_id": split_id(fingerprints),
            }
            (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=_plain) + "\n")


def _split_files(directory: Path) -> set[str]:
    """Names a split folder's writer owns: every part file name, the manifest and its ``files``."""
    owned = {f"{name}.{fmt}" for name in PART_NAMES for fmt in WRITE_FORMATS}
    owned.add(MANIFEST_NAME)
    manifest = read_split_manifest(directory)
    if manifest is not None:
        owned.update(str(file) for file in manifest["files"].values())
    return owned


# ---------------------------------------------------------------------- schemes
@dataclass(frozen=True)
class SplitScheme(ABC):
    """A split scheme and its options; subclasses hold only the options their scheme uses."""

    #: The scheme's name, as given to :func:`split_interactions` and written to the manifest.
    name: ClassVar[str]

    def parameters(self) -> dict[str, Any]:
        """The options as JSON values: what the manifest records under ``parameters``."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @abstractmethod
    def parts(
        self, data: Interactions, rng: np.random.Generator
    ) -> tuple[dict[str, Interactions | None], dict[str, Any]]:
        """The parts of ``data`` by name, and the resolved details the manifest records."""


@dataclass(frozen=True)
class RandomHoldout(SplitScheme):
    """``random``: per user, ``round(test_ratio·n)`` rows to test, ``round(validation_ratio·n)``
    to validation; at least one row stays in train."""

    name: ClassVar[str] = "random"
    test_ratio: float = 0.2
    validation_ratio: float = 0.0

    def __post_init__(self) -> None:
        _set(self, "test_ratio", _ratio("test_ratio", self.test_ratio))
        _set(self, "validation_ratio", _ratio("validation_ratio", self.validation_ratio))
        _check_sum("test_ratio + validation_ratio", self.test_ratio, self.validation_ratio)

    def parts(
        self, data: Interactions, rng: np.random.Generator
    ) -> tuple[dict[str, Interactions | None], dict[str, Any]]:
        role = _random_roles(data, rng, self.test_ratio, self.validation_ratio)
        return _parts_by_role(data, role, self.validation_ratio > 0), {}


@dataclass(frozen=True)
class LeaveLast(SplitScheme):
    """``leave-last``: per user, the last ``k`` rows by timestamp to test and the
    ``validation_k`` before them to validation."""

    name: ClassVar[str] = "leave-last"
    k: int = 1
    validation_k: int = 0

    def __post_init__(self) -> None:
        _check_int("k", self.k, minimum=1)
        _check_int("validation_k", self.validation_k, minimum=0)
        _set(self, "k", int(self.k))
        _set(self, "validation_k", int(self.validation_k))

    def parts(
        self, data: Interactions, rng: np.random.Generator
    ) -> tuple[dict[str, Interactions | None], dict[str, Any]]:
        role = _leave_last_roles(data, self.k, self.validation_k)
        return _parts_by_role(data, role, self.validation_k > 0), {}


@dataclass(frozen=True)
class TemporalCut(SplitScheme):
    """``temporal``: one global cut in time (a fraction, an integer timestamp or an ISO date);
    ``cut=None`` means ``test_ratio``, ``validation_cut=None`` means ``validation_ratio``."""

    name: ClassVar[str] = "temporal"
    cut: float | str | int | None = None
    validation_cut: float | str | int | None = None
    test_ratio: float = 0.2
    validation_ratio: float = 0.0

    def __post_init__(self) -> None:
        _set(self, "test_ratio", _ratio("test_ratio", self.test_ratio))
        _set(self, "validation_ratio", _ratio("validation_ratio", self.validation_ratio))
        _check_sum("test_ratio + validation_ratio", self.test_ratio, self.validation_ratio)
        test_cut = _parse_cut("cut", self.test_ratio if self.cut is None else self.cut)
        val_cut = self._validation_cut()
        if test_cut[0] == "fraction" and val_cut is not None and val_cut[0] == "fraction":
            _check_sum("cut + validation_cut", test_cut[1], val_cut[1])

    def _validation_cut(self) -> tuple[str, Any] | None:
        value = self.validation_cut
        if value is None and self.validation_ratio > 0:
            value = self.validation_ratio
        return None if value is None else _parse_cut("validation_cut", value)

    def parts(
        self, data: Interactions, rng: np.random.Generator
    ) -> tuple[dict[str, Interactions | None], dict[str, Any]]:
        test_cut = _parse_cut("cut", self.test_ratio if self.cut is None else self.cut)
        role, details = _temporal_roles(data, test_cut, self._validation_cut())
        return _parts_by_role(data, role, "validation_from" in details), details


@dataclass(frozen=True)
class StrongGeneralisation(SplitScheme):
    """``strong``: ``heldout_users`` whole users for test (and as many for validation when
    ``validation_ratio > 0``), each split into fold-in input and evaluation target."""

    name: ClassVar[str] = "strong"
    heldout_users: int | float = 0.1
    validation_ratio: float = 0.0
    fold_in_ratio: float = 0.8

    def __post_init__(self) -> None:
        _heldout_count(self.heldout_users, 1)  # the form; the count is checked on the data
        _set(self, "validation_ratio", _ratio("validation_ratio", self.validation_ratio))
        fold_in_ratio = _to_number("fold_in_ratio", self.fold_in_ratio)
        if not 0 < fold_in_ratio < 1:
            raise SiftrecError(f"fold_in_ratio={fold_in_ratio} must be in (0, 1)")
        _set(self, "fold_in_ratio", fold_in_ratio)

    def parts(
        self, data: Interactions, rng: np.random.Generator
    ) -> tuple[dict[str, Interactions | None], dict[str, Any]]:
        return _strong_parts(
            data, rng, self.heldout_users, self.validation_ratio, self.fold_in_ratio
        )


#: The scheme objects :func:`split_interactions` builds, by scheme name (``given`` is
#: :func:`split_given`).
SCHEME_CLASSES: dict[str, type[SplitScheme]] = {
    cls.name: cls for cls in (RandomHoldout, LeaveLast, TemporalCut, StrongGeneralisation)
}


class SplitOptions(TypedDict, total=False):
    """Keyword options of :func:`split_interactions`; each scheme takes only its own."""

    test_ratio: float
    validation_ratio: float
    k: int
    validation_k: int
    cut: float | str | int | None
    validation_cut: float | str | int | None
    heldout_users: int | float
    fold_in_ratio: float


def split_scheme(scheme: str, **options: Unpack[SplitOptions]) -> SplitScheme:
    """The scheme object of a scheme name and its options; an option it does not use is refused."""
    if scheme not in SCHEMES:
        raise SiftrecError(f"unknown split scheme {scheme!r}; choose one of {SCHEMES}")
    if scheme == "given":
        raise SiftrecError("scheme 'given' takes pre-split parts: use split_given(train, test)")
    cls = SCHEME_CLASSES[scheme]
    own = [f.name for f in fields(cls)]
    foreign = [name for name in options if name not in own]
    if foreign:
        raise SiftrecError(
            f"the {scheme} split does not use {', '.join(foreign)} (its options: {', '.join(own)})"
        )
    return cls(**options)


def scheme_from_manifest(manifest: dict[str, Any]) -> SplitScheme:
    """The scheme object a split manifest records, to reproduce the split with its seed.

    Manifests written by earlier versions record every option of every scheme; only the
    scheme's own options are read from them.
    """
    scheme = manifest.get("scheme")
    parameters = manifest.get("parameters")
    if scheme not in SCHEME_CLASSES or not isinstance(parameters, dict):
        raise SiftrecError(
            f"the manifest does not describe a reproducible split (scheme {scheme!r})"
        )
    cls = SCHEME_CLASSES[scheme]
    return cls(**{f.name: parameters[f.name] for f in fields(cls) if f.name in parameters})


# ---------------------------------------------------------------------- public entry points
def split_interactions(
    data: Interactions,
    scheme: str | SplitScheme = "random",
    *,
    seed: int = 0,
    **options: Unpack[SplitOptions],
) -> Split:
    """Split ``data`` by ``scheme`` (see the module docstring); deterministic given ``seed``.

    ``scheme`` is a scheme name with that scheme's options as keywords (defaults: ``test_ratio``
    0.2, ``validation_ratio`` 0, ``k`` 1, ``validation_k`` 0, ``cut``/``validation_cut`` None,
    ``heldout_users`` 0.1, ``fold_in_ratio`` 0.8), or a :class:`SplitScheme` object.
    """
    if isinstance(scheme, SplitScheme):
        if options:
            raise SiftrecError(
                f"pass the options of a scheme object to the object, not to split_interactions "
                f"(got {', '.join(options)})"
            )
    elif scheme not in SCHEMES:
        raise SiftrecError(f"unknown split scheme {scheme!r}; choose one of {SCHEMES}")
    elif scheme == "given":
        raise SiftrecError("scheme 'given' takes pre-split parts: use split_given(train, test)")
    if not isinstance(data, Interactions):
        raise SiftrecError(f"split expects Interactions, got {type(data).__name__}")
    if len(data) == 0:
        raise SiftrecError("cannot split an empty interaction log")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise SiftrecError(f"seed must be an integer, got {seed!r}")
    plan = scheme if isinstance(scheme, SplitScheme) else split_scheme(scheme, **options)
    parts, details = plan.parts(data, np.random.default_rng(int(seed)))
    for name, part in parts.items():
        if part is not None and len(part) == 0 and not name.endswith("fold_in"):
            raise SiftrecError(
                f"the {plan.name} split leaves the {name} part empty; adjust its parameters"
            )
    manifest = _manifest(plan.name, int(seed), plan.parameters(), data, parts, details)
    return Split(manifest=manifest, **parts)


def split_given(
    train: Interactions, test: Interactions, validation: Interactions | None = None
) -> Split:
    """Combine pre-split parts onto shared id maps: train's ids first, then new ids appended.

    Ids seen only in validation, then only in test, extend the maps (first-seen order); the
    manifest counts how many test/validation users and items are absent from train.
    """
    given = {"train": train, "validation": validation, "test": test}
    for name, part in given.items():
        if part is None:
            continue
        if not isinstance(part, Interactions):
            raise SiftrecError(f"{name} must be Interactions, got {type(part).__name__}")
        if len(part) == 0:
            raise SiftrecError(f"the given {name} part is empty")
    others = [part for part in (validation, test) if part is not None]
    user_map, item_map = train.user_map, train.item_map
    for part in others:
        _check_id_kinds("user", user_map.ids, part.user_map.ids)
        _check_id_kinds("item", item_map.ids, part.item_map.ids)
        user_map = user_map.extend(part.raw_users())
        item_map = item_map.extend(part.raw_items())
    parts = {
        name: part.remap(user_map, item_map)[0] if part is not None else None
        for name, part in given.items()
    }
    manifest = _manifest("given", None, {}, None, parts, {})
    return Split(manifest=manifest, **parts)


# ---------------------------------------------------------------------- scheme arithmetic
def _random_roles(
    data: Interactions, rng: np.random.Generator, test_ratio: float, validation_ratio: float
) -> np.ndarray:
    """Per-user random holdout: a random rank within each user picks test, then validation."""
    rank = _rank_within_user(data.users, rng.random(len(data)))
    counts = data.user_counts()
    n_test = np.minimum(_round_half_up(test_ratio * counts), np.maximum(counts - 1, 0))
    n_val = np.minimum(
        _round_half_up(validation_ratio * counts), np.maximum(counts - 1 - n_test, 0)
    )
    t, v = n_test[data.users], n_val[data.users]
    role = np.full(len(data), _TRAIN, dtype=np.int8)
    role[rank < t] = _TEST
    role[(rank >= t) & (rank < t + v)] = _VALIDATION
    return role


def _leave_last_roles(data: Interactions, k: int, validation_k: int) -> np.ndarray:
    """The last ``k`` per user to test, the ``validation_k`` before them to validation."""
    ts = _timestamps(data)
    from_end = _rank_within_user(data.users, ts, from_end=True)
    counts = data.user_counts()[data.users]
    role = np.full(len(data), _TRAIN, dtype=np.int8)
    role[(counts > k) & (from_end < k)] = _TEST
    if validation_k:
        in_window = (from_end >= k) & (from_end < k + validation_k)
        role[(counts > k + validation_k) & in_window] = _VALIDATION
    return role


def _temporal_roles(
    data: Interactions, test_cut: tuple[str, Any], val_cut: tuple[str, Any] | None
) -> tuple[np.ndarray, dict]:
    """A global cut: positions in timestamp order at or after the test start go to test."""
    ts = _timestamps(data)
    n = len(ts)
    order = np.argsort(ts, kind="stable")
    sorted_ts = ts[order]
    test_start = _cut_position("cut", test_cut, sorted_ts, n, n)
    role_sorted = np.full(n, _TRAIN, dtype=np.int8)
    role_sorted[test_start:] = _TEST
    details: dict[str, Any] = {"test_from": _json_scalar(sorted_ts, test_start)}
    if val_cut is not None:
        val_start = _cut_position("validation_cut", val_cut, sorted_ts, n, test_start)
        if val_start > test_start:
            raise SiftrecError("validation_cut must not be later than cut")
        role_sorted[val_start:test_start] = _VALIDATION
        details["validation_from"] = _json_scalar(sorted_ts, val_start)
    role = np.empty(n, dtype=np.int8)
    role[order] = role_sorted
    return role, details


def _strong_parts(
    data: Interactions,
    rng: np.random.Generator,
    heldout_users: int | float | str,
    validation_ratio: float,
    fold_in_ratio: float,
) -> tuple[dict[str, Interactions | None], dict]:
    """Hold out whole users; split each held-out user's interactions into fold-in and target."""
    counts = data.user_counts()
    active = np.flatnonzero(counts > 0)
    n_heldout = _heldout_count(heldout_users, len(active))
    groups = 2 if validation_ratio > 0 else 1
    if n_heldout * groups >= len(active):
        raise SiftrecError(
            f"heldout_users={heldout_users} holds out {n_heldout * groups} of {len(active)} "
            "users and leaves none for training"
        )
    perm = rng.permutation(active)
    user_role = np.full(data.n_users, _TRAIN, dtype=np.int8)
    user_role[perm[:n_heldout]] = _TEST
    if groups == 2:
        user_role[perm[n_heldout : 2 * n_heldout]] = _VALIDATION
    rank = _rank_within_user(data.users, rng.random(len(data)))
    n_target = np.floor((1.0 - fold_in_ratio) * counts + 1e-9).astype(np.int64)
    is_target = rank < n_target[data.users]
    role = user_role[data.users]
    parts: dict[str, Interactions | None] = {
        "train": data.subset(role == _TRAIN),
        "test": data.subset((role == _TEST) & is_target),
        "test_fold_in": data.subset((role == _TEST) & ~is_target),
        "validation": None,
        "validation_fold_in": None,
    }
    if groups == 2:
        parts["validation"] = data.subset((role == _VALIDATION) & is_target)
        parts["validation_fold_in"] = data.subset((role == _VALIDATION) & ~is_target)
    return parts, {"heldout_users_per_part": n_heldout}


# ---------------------------------------------------------------------- helpers
def _parts_by_role(
    data: Interactions, role: np.ndarray, with_validation: bool
) -> dict[str, Interactions | None]:
    return {
        "train": data.subset(role == _TRAIN),
        "test": data.subset(role == _TEST),
        "validation": data.subset(role == _VALIDATION) if with_validation else None,
    }


def _rank_within_user(users: np.ndarray, keys: np.ndarray, from_end: bool = False) -> np.ndarray:
    """Each row's 0-based rank among its user's rows by ``keys`` (ties: row order)."""
    order = np.lexsort((keys, users))  # stable: equal keys keep row order
    sorted_users = users[order]
    position = np.arange(len(users))
    if from_end:
        rank_sorted = np.searchsorted(sorted_users, sorted_users, side="right") - 1 - position
    else:
        rank_sorted = position - np.searchsorted(sorted_users, sorted_users, side="left")
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = rank_sorted
    return rank


def _round_half_up(values: np.ndarray | float) -> np.ndarray:
    # the epsilon absorbs float error such as 0.1 * 25 = 2.5000000000000004 or 0.3 * 5 = 1.4999…
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5 + 1e-9).astype(np.int64)


def _to_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise SiftrecError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise SiftrecError(f"{name} must be finite, got {value}")
    return float(value)


def _ratio(name: str, value: Any) -> float:
    if not 0 <= _to_number(name, value) < 1:
        raise SiftrecError(f"{name}={value} must be in [0, 1)")
    return float(value)


def _check_sum(what: str, first: float, second: float) -> None:
    if first + second >= 1:
        raise SiftrecError(f"{what} = {first + second:g} must be below 1")


def _set(scheme: SplitScheme, name: str, value: Any) -> None:
    """Store a checked, normalised option on a frozen scheme object."""
    object.__setattr__(scheme, name, value)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise SiftrecError(f"{name} must be an integer ≥ {minimum}, got {value!r}")


def _heldout_count(value: int | float | str, n_active: int) -> int:
    """``heldout_users`` as a user count: an int ≥ 1 is a count, a float in (0, 1) a fraction."""
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                value = None  # reported below
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1:
        return int(value)
    if isinstance(value, float | np.floating) and 0 < value < 1:
        return max(1, int(_round_half_up(value * n_active)))
    raise SiftrecError(f"heldout_users must be a count ≥ 1 or a fraction in (0, 1), got {value!r}")


def _timestamps(data: Interactions) -> np.ndarray:
    """The ``timestamp`` column, checked to be numeric or datetime without missing values."""
    if not data.has_column("timestamp"):
        have = ", ".join(sorted(data.columns)) or "none"
        raise SiftrecError(f"this split needs a 'timestamp' column (available: {have})")
    ts = data.columns["timestamp"]
    if ts.dtype.kind not in "iufM":
        raise SiftrecError(f"timestamp column must be numeric or datetime, got dtype {ts.dtype}")
    if ts.dtype.kind in "fM":
        missing = int((np.isnat(ts) if ts.dtype.kind == "M" else ~np.isfinite(ts)).sum())
        if missing:
            raise SiftrecError(f"timestamp column has {missing} missing values")
    return ts


def _parse_cut(name: str, value: Any) -> tuple[str, Any]:
    """Classify a cut as ``("fraction", f)``, ``("timestamp", int)`` or ``("date", str)``."""
    bad = SiftrecError(
        f"{name}={value!r} must be a fraction in (0, 1), an integer timestamp or an ISO date"
    )
    if isinstance(value, str):
        text = value.strip()
        for convert in (int, float):
            try:
                return _parse_cut(name, convert(text))
            except ValueError:
                continue
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise bad from None
        return ("date", text)
    if isinstance(value, bool):
        raise bad
    if isinstance(value, int | np.integer):
        return ("timestamp", int(value))
    if isinstance(value, float | np.floating) and 0 < value < 1:
        return ("fraction", float(value))
    raise bad


def _cut_position(name: str, cut: tuple[str, Any], sorted_ts: np.ndarray, n: int, end: int) -> int:
    """Index in timestamp order where the part starts (a fraction counts back from ``end``)."""
    kind, value = cut
    if kind == "fraction":
        start = end - int(_round_half_up(value * n))
        if start < 0:
            raise SiftrecError(f"{name}={value} leaves no interactions before it")
        return start
    if sorted_ts.dtype.kind == "M":
        if kind == "date":
            stamp = datetime.fromisoformat(value)
            if stamp.tzinfo is not None:
                stamp = stamp.astimezone(UTC).replace(tzinfo=None)
            point = np.datetime64(stamp)
        else:
            point = np.datetime64(value, "s")
        point = point.astype(sorted_ts.dtype)
    elif kind == "date":
        stamp = datetime.fromisoformat(value)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        point = stamp.timestamp()
    else:
        point = value
    return int(np.searchsorted(sorted_ts, point, side="left"))


def _json_scalar(sorted_ts: np.ndarray, position: int) -> Any:
    """The timestamp at ``position`` as JSON (None past the end)."""
    if position >= len(sorted_ts):
        return None
    value = sorted_ts[position]
    return str(value) if sorted_ts.dtype.kind == "M" else value.item()


def _plain(value: Any) -> Any:
    """A parameter as a JSON value (numpy scalars become Python scalars)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_id_kinds(what: str, train_ids: np.ndarray, other_ids: np.ndarray) -> None:
    """Integer train ids cannot absorb string ids (string train ids absorb anything)."""
    if len(other_ids) and train_ids.dtype.kind == "i" and other_ids.dtype.kind != "i":
        raise SiftrecError(
            f"train has integer {what} ids but another part has string {what} ids "
            f"(e.g. {other_ids[0]!r})"
        )


def _part_counts(part: Interactions, train: Interactions | None) -> dict[str, int]:
    users = np.bincount(part.users, minlength=part.n_users) > 0
    items = np.bincount(part.items, minlength=part.n_items) > 0
    counts = {"rows": len(part), "users": int(users.sum()), "items": int(items.sum())}
    if train is not None:
        train_users = np.bincount(train.users, minlength=part.n_users) > 0
        train_items = np.bincount(train.items, minlength=part.n_items) > 0
        counts["users_not_in_train"] = int((users & ~train_users).sum())
        counts["items_not_in_train"] = int((items & ~train_items).sum())
    return counts


def _manifest(
    scheme: str,
    seed: int | None,
    parameters: dict,
    data: Interactions | None,
    parts: dict[str, Interactions | None],
    details: dict,
) -> dict:
    """Scheme, seed, parameters, resolved details and row/user/item counts per part."""
    train = parts["train"]
    counts = {
        name: _part_counts(parts[name], None if name == "train" else train)
        for name in PART_NAMES
        if parts.get(name) is not None
    }
    manifest = {
        "scheme": scheme,
        "seed": seed,
        "parameters": parameters,
        "details": details,
        "counts": counts,
        "siftrec_version": __version__,
    }
    if data is not None:
        manifest["input"] = _part_counts(data, None)
    return manifest
