"""``siftrec serve``: a fitted model over HTTP (FastAPI under uvicorn; the ``serve`` extra)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from siftrec.cli.common import fail, handle_errors, stderr
from siftrec.errors import SiftrecError

#: Environment variable holding the admin token when ``--admin-token`` is not given.
TOKEN_ENV = "SIFTREC_ADMIN_TOKEN"


@handle_errors
def serve_command(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by `siftrec fit`.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).")] = 1,
    ann: Annotated[
        str, typer.Option(help="Top-K retrieval for known users: exact or faiss (dot products).")
    ] = "exact",
    ann_index: Annotated[
        Path | None,
        typer.Option(help="items.faiss written by `siftrec export --ann faiss` (implies faiss)."),
    ] = None,
    max_k: Annotated[int, typer.Option(help="Largest k a request may ask for.")] = 1000,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body.")] = 1 << 20,
    admin_token: Annotated[
        str | None,
        typer.Option(
            help=f"Enable POST /admin/reload for this bearer token (or set {TOKEN_ENV}).",
            show_default=False,
        ),
    ] = None,
    watch: Annotated[
        float | None,
        typer.Option(help="Reload when MODEL_DIR changes on disk, checking every N seconds."),
    ] = None,
    threads: Annotated[
        int, typer.Option(help="torch / faiss threads per request (requests run concurrently).")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve a model over HTTP: POST /recommend, /recommend/batch, /similar-items, /score;
    GET /health, /metadata; the OpenAPI schema at /openapi.json and /docs.

    Ids are raw. An unknown user without history gets the popularity ranking, flagged
    "fallback": "popularity". Reload: --admin-token enables POST /admin/reload
    {"model_dir": ...}; --watch reloads when MODEL_DIR is replaced (e.g. a new
    `siftrec fit --out MODEL_DIR`). Either swaps the model atomically: requests in flight
    finish on the old one.
    """
    try:  # lazy: optional dependencies (the serve extra)
        import uvicorn

        from siftrec.serve.app import SETTINGS_ENV, create_app, set_threads
    except ImportError as exc:
        fail(
            escape(
                f"siftrec serve needs the serve extra ({exc.name} is missing): "
                "pip install 'siftrec[serve]'"
            )
        )
    token = admin_token or os.environ.get(TOKEN_ENV) or None
    if workers < 1:
        raise SiftrecError(f"--workers must be at least 1, got {workers}")
    if workers > 1 and token:
        raise SiftrecError(
            "--admin-token reloads only the worker that answers; with --workers > 1 use --watch"
        )
    if not 0 <= port <= 65535:
        raise SiftrecError(f"--port must be in [0, 65535], got {port}")
    if ann_index is not None:
        ann = "faiss"
    settings = {
        "model_dir": str(model_dir),
        "ann": ann,
        "ann_index": None if ann_index is None else str(ann_index),
        "max_k": max_k,
        "max_body_bytes": max_body_bytes,
        "admin_token": token,
        "watch_seconds": watch,
    }
    set_threads(threads)
    app = create_app(**settings)  # loads the model: errors show here, before listening
    stderr.print(
        f"serving {app.state.holder.service.model.name} from {model_dir} on "
        f"http://{host}:{port} ({ann})",
        highlight=False,
    )
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    del app
    os.environ[SETTINGS_ENV] = json.dumps({**settings, "threads": threads})
    uvicorn.run(
        "siftrec.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
