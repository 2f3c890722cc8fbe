"""Summary statistics of an interaction log (``siftrec data inspect``).

:func:`describe` returns plain Python values (JSON-serialisable); :func:`format_description`
renders them for the terminal.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from siftrec.data.interactions import Interactions

QUANTILES = {"min": 0.0, "25%": 0.25, "50%": 0.5, "75%": 0.75, "90%": 0.9, "max": 1.0}


def _quantiles(counts: np.ndarray) -> dict[str, float]:
    """Quantiles (and mean) of per-user or per-item interaction counts; zeros if empty."""
    if len(counts) == 0:
        return {**dict.fromkeys(QUANTILES, 0.0), "mean": 0.0}
    values = np.quantile(counts, list(QUANTILES.values()))
    out = {name: float(v) for name, v in zip(QUANTILES, values, strict=True)}
    out["mean"] = float(counts.mean())
    return out


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def describe(data: Interactions) -> dict[str, Any]:
    """Counts and distributions of a log.

    Keys: ``interactions``, ``users``/``items`` (size of the id maps), ``active_users``/
    ``active_items`` (ids with at least one interaction), ``density`` (interactions over
    users × items), ``duplicate_pairs`` (rows repeating an earlier (user, item) pair),
    ``per_user``/``per_item`` (min, 25%, 50%, 75%, 90%, max and mean interactions over active
    ids), ``weights`` (min/max/mean, or None when every weight is 1), ``columns`` (side column
    names), ``noise_share`` (share of rows with ``is_noise``, None without that column) and
    ``timestamp_range`` ([first, last], None without a ``timestamp`` column).
    """
    n = len(data)
    user_counts, item_counts = data.user_counts(), data.item_counts()
    keys = data.users.astype(np.int64) * max(1, data.n_items) + data.items
    stats: dict[str, Any] = {
        "interactions": n,
        "users": data.n_users,
        "items": data.n_items,
        "active_users": int((user_counts > 0).sum()),
        "active_items": int((item_counts > 0).sum()),
        "density": float(data.density),
        "duplicate_pairs": int(n - len(np.unique(keys))),
        "per_user": _quantiles(user_counts[user_counts > 0]),
        "per_item": _quantiles(item_counts[item_counts > 0]),
        "weights": None,
        "columns": list(data.columns),
        "noise_share": None,
        "timestamp_range": None,
    }
    if n and np.any(data.weights != 1.0):
        w = data.weights
        stats["weights"] = {"min": float(w.min()), "max": float(w.max()), "mean": float(w.mean())}
    if data.has_column("is_noise") and n:
        stats["noise_share"] = float(np.asarray(data.columns["is_noise"], dtype=bool).mean())
    if data.has_column("timestamp") and n:
        ordered = np.sort(data.columns["timestamp"])
        stats["timestamp_range"] = [_scalar(ordered[0]), _scalar(ordered[-1])]
    return stats


def _fmt_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _fmt_quantiles(q: dict[str, float]) -> str:
    parts = [f"{name} {_fmt_number(q[name])}" for name in QUANTILES]
    return " · ".join(parts) + f"  (mean {q['mean']:,.1f})"


def format_description(stats: dict[str, Any]) -> str:
    """Human-readable rendering of :func:`describe`'s output, one fact per line."""
    rows = [
        ("interactions", f"{stats['interactions']:,}"),
        ("users", f"{stats['users']:,} ({stats['active_users']:,} with interactions)"),
        ("items", f"{stats['items']:,} ({stats['active_items']:,} with interactions)"),
        ("density", f"{stats['density']:.4%}"),
        ("duplicate pairs", f"{stats['duplicate_pairs']:,}"),
        ("per user", _fmt_quantiles(stats["per_user"])),
        ("per item", _fmt_quantiles(stats["per_item"])),
        ("side columns", ", ".join(stats["columns"]) or "none"),
    ]
    if stats["weights"] is not None:
        w = stats["weights"]
        rows.append(("weights", f"{w['min']:,.4g} .. {w['max']:,.4g} (mean {w['mean']:,.4g})"))
    else:
        rows.append(("weights", "all 1 (plain implicit feedback)"))
    if stats["noise_share"] is not None:
        rows.append(("noise share", f"{stats['noise_share']:.2%} flagged is_noise"))
    if stats["timestamp_range"] is not None:
        first, last = stats["timestamp_range"]
        rows.append(("timestamps", f"{first} .. {last}"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
