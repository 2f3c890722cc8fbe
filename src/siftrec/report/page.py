"""One self-contained HTML page: inline CSS, plots as base64 PNG, text escaped; no network.

A report is a list of :class:`Section`; every section is always present (the test and the
reader rely on the same headings), and one without data says why in a note.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from siftrec.version import __version__

#: The sections of every report, in page order: (id, heading).
SECTIONS = (
    ("results", "Results"),
    ("training", "Training history"),
    ("noise", "Noise robustness"),
    ("detection", "Noise detection (ROC-AUC)"),
    ("per-user", "Per-user metric distributions"),
    ("popularity", "Popularity: recommended vs clicked"),
    ("config", "Configuration"),
)

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1d2a44;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.8}
nav{padding:8px 32px;background:#e8ebf1}nav a{margin-right:14px;color:#1d2a44}
main{padding:8px 32px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:18px 0;padding:6px 20px
 16px}
h2{font-size:18px;border-bottom:1px solid #e3e6ec;padding-bottom:6px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #dde1e8;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f0f2f6}
td.best{font-weight:700}img{max-width:100%;height:auto}
p.note{color:#5b6475;font-style:italic}
pre{background:#f0f2f6;padding:10px;overflow:auto;font-size:13px}
"""


BEST = ' class="best"'


@dataclass
class Section:
    """One section: its id (from :data:`SECTIONS`) and HTML blocks, or a note saying why not."""

    id: str
    blocks: list[str] = field(default_factory=list)

    def add(self, block: str) -> None:
        self.blocks.append(block)


def note(text: str) -> str:
    """A paragraph saying what a section lacks and why."""
    return f'<p class="note">{html.escape(text)}</p>'


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def heading(text: str) -> str:
    return f"<h3>{html.escape(text)}</h3>"


def table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], bold: Set[tuple[int, int]] = frozenset()
) -> str:
    """An HTML table of escaped cells; ``bold`` holds (row, column) pairs to emphasise."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for r, row in enumerate(rows):
        cells = "".join(
            f"<td{BEST if (r, c) in bold else ''}>{html.escape(str(v))}</td>"
            for c, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(fig: Any, alt: str) -> str:
    """A matplotlib figure as an inline base64 PNG (the figure is closed)."""
    import matplotlib.pyplot as plt  # lazy: slow to import; only reports draw

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def json_block(value: Any) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def render(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole page; sections in :data:`SECTIONS` order, every one present."""
    by_id = {s.id: s for s in sections}
    nav = "".join(f'<a href="#{sid}">{html.escape(name)}</a>' for sid, name in SECTIONS)
    parts = []
    for sid, name in SECTIONS:
        section = by_id.get(sid) or Section(sid, [note("Nothing to show for this input.")])
        blocks = "".join(section.blocks) or note("Nothing to show for this input.")
        parts.append(f'<section id="{sid}"><h2>{html.escape(name)}</h2>{blocks}</section>')
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)} · siftrec "
        f"{html.escape(__version__)}</p></header><nav>{nav}</nav>"
        f"<main>{''.join(parts)}</main></body></html>\n"
    )


def new_figure(width: float = 6.0, height: float = 3.4) -> tuple[Any, Any]:
    """A matplotlib figure and axes on the Agg backend (no display needed)."""
    import matplotlib  # lazy: slow to import; only reports draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))
