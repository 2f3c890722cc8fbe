"""Where the real data sets live: ``$SIFTREC_DATA``, else ``shared/data`` near the checkout."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """``$SIFTREC_DATA`` when set; else the first existing ``../shared/data`` or ``shared/data``
    relative to the working directory (the layout of a siftrec checkout next to its data)."""
    if os.environ.get("SIFTREC_DATA"):
        return Path(os.environ["SIFTREC_DATA"]).expanduser()
    candidates = [Path.cwd().parent / "shared" / "data", Path.cwd() / "shared" / "data"]
    return next((path for path in candidates if path.is_dir()), candidates[0])
