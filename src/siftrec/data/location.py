"""Where the real data sets live: ``$SIFTREC_DATA``, else a per-user cache directory.

The default never depends on the working directory, so a command finds the same data wherever it
runs. On Linux and other POSIX systems the cache directory follows the XDG base-directory rule
(``$XDG_CACHE_HOME/siftrec/data``, else ``~/.cache/siftrec/data``); on macOS and Windows it is the
platform's cache directory when the optional ``platformdirs`` package is installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_data_dir() -> Path:
    """``$SIFTREC_DATA`` when set and non-empty; else :func:`user_cache_dir` ``/ "data"``."""
    configured = os.environ.get("SIFTREC_DATA")
    if configured:
        return Path(configured).expanduser()
    return user_cache_dir() / "data"


def user_cache_dir() -> Path:
    """siftrec's per-user cache directory (``…/siftrec``); created by whoever writes into it."""
    if sys.platform in ("darwin", "win32"):
        try:
            # Optional dependency: only these platforms need it, and siftrec does not require it.
            import platformdirs
        except ImportError:
            pass
        else:
            return Path(platformdirs.user_cache_dir("siftrec", appauthor=False))
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG rule ignores a relative XDG_CACHE_HOME.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "siftrec"
