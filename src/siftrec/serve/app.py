"""The FastAPI application serving one model directory (``siftrec serve``).

Endpoints (all ids raw): ``POST /recommend``, ``POST /recommend/batch``, ``POST /similar-items``,
``POST /score``, ``GET /health``, ``GET /metadata``, and, when an admin token is set,
``POST /admin/reload``; the OpenAPI schema is at ``/openapi.json`` (``/docs`` renders it).

Bad requests are 4xx with a one-line ``detail``: a body that fails its schema (unknown field,
``k`` out of range, malformed id) is 422, a request the model cannot answer (a missing-id
spelling such as ``"NA"``, similar items of a model without them) is 422, an unknown item in
``/similar-items`` is 404, a body over ``max_body_bytes`` is 413.

Reloading builds a complete new :class:`ModelService` (model, index, warm-up) off the event loop
and then swaps the single reference in :class:`ServiceHolder`; requests already running finish
on the old model. It is triggered by ``POST /admin/reload`` (``Authorization: Bearer TOKEN``) or,
with ``watch_seconds``, by the served directory changing on disk (``siftrec fit --out`` into the
same directory replaces it as a whole); a failed load keeps the old model.
"""

import asyncio
import contextlib
import json
import logging
import os
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import torch
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from siftrec.errors import SiftrecError
from siftrec.serve.ann import FaissIndex, import_faiss
from siftrec.serve.schemas import (
    BatchResponse,
    ErrorResponse,
    HealthResponse,
    MetadataResponse,
    RecommendResponse,
    ReloadRequest,
    ReloadResponse,
    ScoreRequest,
    ScoreResponse,
    SimilarItemsResponse,
    build_schemas,
)
from siftrec.serve.service import ModelService, Query, ServiceHolder, UnknownIdError
from siftrec.version import __version__

#: Default cap on ``k``.
MAX_K = 1000
#: Default cap on a request body.
MAX_BODY_BYTES = 1 << 20
#: Environment variable carrying :func:`create_app`'s settings to uvicorn worker processes.
SETTINGS_ENV = "SIFTREC_SERVE_SETTINGS"

log = logging.getLogger("siftrec.serve")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in ((413, "request body too large"), (422, "invalid request"))
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def create_app(
    model_dir: str | os.PathLike[str],
    *,
    ann: str | None = None,
    max_k: int = MAX_K,
    max_body_bytes: int = MAX_BODY_BYTES,
    admin_token: str | None = None,
    watch_seconds: float | None = None,
    ann_index: str | os.PathLike[str] | None = None,
) -> FastAPI:
    """The app serving ``model_dir`` (loaded now, so ``/health`` is 200 from the first request).

    ``ann``: retrieval backend for known users (``exact``/None or ``faiss``); ``max_k``: the
    largest ``k`` accepted; ``max_body_bytes``: the largest request body; ``admin_token``
    enables ``POST /admin/reload``; ``watch_seconds`` polls the served directory and reloads
    when it changes; ``ann_index``: an ``items.faiss`` written by ``siftrec export --ann faiss``
    for this model, used instead of building one (a reload builds its index).
    """
    if max_k < 1:
        raise SiftrecError(f"max_k must be at least 1, got {max_k}")
    if max_body_bytes < 1024:
        raise SiftrecError(f"max_body_bytes must be at least 1024, got {max_body_bytes}")
    if admin_token is not None and len(admin_token) < 16:
        raise SiftrecError("the admin token must be at least 16 characters long")
    if watch_seconds is not None and watch_seconds <= 0:
        raise SiftrecError(f"watch interval must be positive, got {watch_seconds}")
    index = None if ann_index is None else load_exported_index(ann_index, model_dir)
    holder = ServiceHolder(ModelService(model_dir, ann=ann, index=index))
    reloader = _Reloader(holder, ann)
    schemas = build_schemas(max_k)
    RecommendRequest, BatchRequest, SimilarItemsRequest = (
        schemas.recommend,
        schemas.batch,
        schemas.similar,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = None
        if watch_seconds is not None:
            task = asyncio.create_task(reloader.watch(watch_seconds))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="siftrec",
        version=__version__,
        description="Recommendations from a fitted siftrec model, in raw ids.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.state.holder = holder
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)

    @app.exception_handler(UnknownIdError)
    async def unknown_id(_: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(SiftrecError)
    async def bad_request(_: Request, exc: SiftrecError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    def answer(service: ModelService, request: Any) -> RecommendResponse:
        query = Query(
            user=request.user,
            history=request.history,
            k=request.k,
            exclude_seen=request.exclude_seen,
            allow=request.allow,
            deny=request.deny,
        )
        result = service.recommend(query)
        return RecommendResponse(
            items=result.items,
            scores=result.scores,
            source=result.source,
            fallback=result.fallback,
            unknown_items=result.unknown_items,
        )

    @app.post("/recommend", response_model=RecommendResponse)
    def recommend(request: RecommendRequest) -> RecommendResponse:  # type: ignore[valid-type]
        """Top-k items for a known user, a posted history (fold-in), or popularity."""
        return answer(holder.service, request)

    @app.post("/recommend/batch", response_model=BatchResponse)
    def recommend_batch(request: BatchRequest) -> BatchResponse:  # type: ignore[valid-type]
        """Several recommendation requests, answered by one model in request order."""
        service = holder.service
        return BatchResponse(results=[answer(service, r) for r in request.requests])

    @app.post(
        "/similar-items",
        response_model=SimilarItemsResponse,
        responses={404: {"model": ErrorResponse, "description": "unknown item"}},
    )
    def similar_items(request: SimilarItemsRequest) -> SimilarItemsResponse:  # type: ignore[valid-type]
        """The k items most similar to an item, by the model's own item similarity."""
        items, scores = holder.service.similar_items(request.item, request.k)
        return SimilarItemsResponse(items=items, scores=scores)

    @app.post("/score", response_model=ScoreResponse)
    def score(request: ScoreRequest) -> ScoreResponse:
        """Model scores of (user, item) pairs; null for an unknown user or item."""
        users = [p.user for p in request.pairs]
        items = [p.item for p in request.pairs]
        return ScoreResponse(scores=holder.service.score_pairs(users, items))

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        """200 once a model is loaded (it is loaded before the server accepts requests)."""
        return HealthResponse(
            status="ok", model=holder.service.model.name, generation=holder.generation
        )

    @app.get("/metadata", response_model=MetadataResponse)
    def metadata() -> MetadataResponse:
        """The model's name, hyperparameters, training fingerprint, catalog size, versions."""
        service, generation = holder.service, holder.generation
        return MetadataResponse(**service.metadata(), generation=generation)

    if admin_token is not None:

        def authorize(authorization: str | None = Header(None)) -> None:
            expected = f"Bearer {admin_token}".encode()
            given = (authorization or "").encode()
            if not secrets.compare_digest(given, expected):
                raise HTTPException(
                    401, "missing or wrong admin token", headers={"WWW-Authenticate": "Bearer"}
                )

        @app.post(
            "/admin/reload",
            response_model=ReloadResponse,
            dependencies=[Depends(authorize)],
            responses={401: {"model": ErrorResponse, "description": "missing or wrong token"}},
        )
        async def reload(request: ReloadRequest | None = None) -> ReloadResponse:
            """Load a model directory (default: the one served) and swap it in atomically."""
            target = None if request is None else request.model_dir
            service = await run_in_threadpool(reloader.reload, target)
            return ReloadResponse(
                model=service.model.name,
                model_dir=str(service.model_dir.resolve()),
                generation=holder.generation,
                load_seconds=service.load_seconds,
            )

    return app


def app_from_env() -> FastAPI:
    """:func:`create_app` with the settings ``siftrec serve`` put in ``SIFTREC_SERVE_SETTINGS``
    (the factory each uvicorn worker process calls)."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise SiftrecError(f"{SETTINGS_ENV} is not set; start the server with siftrec serve")
    settings = json.loads(raw)
    set_threads(settings.pop("threads", None))
    return create_app(settings.pop("model_dir"), **settings)


def set_threads(threads: int | None) -> None:
    """Intra-op threads of torch and faiss in this process (None: leave them as they are).

    Requests already run concurrently in the server's thread pool; one thread per request
    avoids waiting on a descheduled peer thread inside every small matrix product.
    """
    if threads is None:
        return
    if threads < 1:
        raise SiftrecError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    with contextlib.suppress(SiftrecError):  # faiss is optional
        import_faiss().omp_set_num_threads(threads)


def load_exported_index(
    path: str | os.PathLike[str], model_dir: str | os.PathLike[str]
) -> FaissIndex:
    """The faiss index in ``path``, refused unless the ``export.json`` beside it names the
    training fingerprint of the model in ``model_dir``."""
    path = Path(path)
    marker = path.parent / "export.json"
    try:
        exported = json.loads(marker.read_text()).get("train_fingerprint")
        trained = json.loads((Path(model_dir) / "model.json").read_text()).get("train_fingerprint")
    except (OSError, ValueError, AttributeError):
        raise SiftrecError(f"{path} is not in a directory written by siftrec export") from None
    if exported != trained:
        raise SiftrecError(f"{path} was exported from another model than {model_dir}")
    return FaissIndex.load(path)


class _Reloader:
    """Builds new services and swaps them in, one reload at a time."""

    def __init__(self, holder: ServiceHolder, ann: str | None) -> None:
        self.holder = holder
        self.ann = ann
        self.lock = threading.Lock()

    def reload(self, model_dir: str | None = None) -> ModelService:
        """Load ``model_dir`` (default: the served one) completely, then swap it in."""
        with self.lock:
            target = Path(model_dir) if model_dir else self.holder.service.model_dir
            service = ModelService(target, ann=self.ann)
            self.holder.swap(service)
            log.info("serving %s from %s", service.model.name, target)
            return service

    async def watch(self, interval: float) -> None:
        """Reload whenever the served directory's stamp changes (polled every ``interval``)."""
        stamp = _stamp(self.holder.service.model_dir)
        while True:
            await asyncio.sleep(interval)
            current = _stamp(self.holder.service.model_dir)
            if current is None or current == stamp:
                continue
            try:
                await run_in_threadpool(self.reload)
            except (SiftrecError, OSError) as exc:  # a half-written or broken model: keep serving
                log.warning("reload of %s failed: %s", self.holder.service.model_dir, exc)
            stamp = current


def _stamp(directory: Path) -> tuple[int, int, int] | None:
    """What changes when a model directory is replaced or rewritten (None while it is absent)."""
    try:
        folder, marker = os.stat(directory), os.stat(directory / "model.json")
    except OSError:
        return None
    return folder.st_ino, marker.st_ino, marker.st_mtime_ns


class BodyLimitMiddleware:
    """Answers 413 to a request whose body is larger than ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_error(send, 400, "invalid Content-Length header")
                return
            if int(declared) > self.max_bytes:
                await _send_error(send, 413, self._too_large())
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # FastAPI answers an HTTPException raised here
                    raise _BodyTooLarge(413, self._too_large())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_error(send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit."""


async def _send_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
