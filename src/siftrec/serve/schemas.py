"""Request and response bodies of the HTTP API (pydantic models; they make the OpenAPI schema).

Every request model forbids unknown fields, so a misspelt option is a 422 naming it, not a
silently ignored one. Raw ids are JSON integers (int64 range) or non-blank strings of at most
:data:`MAX_ID_LENGTH` characters without surrounding whitespace; booleans, floats, nulls and
nested values are malformed ids. The caps that depend on the server (``k``) are set by
:func:`build_schemas`.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

#: Longest accepted raw id string.
MAX_ID_LENGTH = 256
#: Most ids in one list of a request (history, allow, deny).
MAX_LIST = 10_000
#: Most requests in one ``/recommend/batch`` body.
MAX_BATCH = 256
#: Most pairs in one ``/score`` body.
MAX_PAIRS = 10_000

IntId = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
TextId = Annotated[
    StrictStr, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^\S(?:.*\S)?$")
]
#: A raw user or item id.
RawIdField = IntId | TextId
IdList = Annotated[list[RawIdField], Field(max_length=MAX_LIST)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorResponse(BaseModel):
    """A 4xx answer: what was wrong with the request, in one line."""

    detail: str | list[dict[str, Any]]


class RecommendResponse(BaseModel):
    """Top-k raw item ids, best first, and their scores."""

    items: list[RawIdField]
    scores: list[float]
    source: Literal["user", "history", "popularity"] = Field(
        description="what the scores come from: the user's model row, a fold-in of the "
        "posted history, or the popularity fallback"
    )
    fallback: Literal["popularity"] | None = Field(
        None, description='"popularity" when neither a known user nor a known history item'
    )
    unknown_items: list[RawIdField] = Field(
        default_factory=list, description="history items the model does not know (dropped)"
    )


class BatchResponse(BaseModel):
    """One :class:`RecommendResponse` per request, in request order."""

    results: list[RecommendResponse]


class SimilarItemsResponse(BaseModel):
    """The most similar raw item ids, best first, and their similarities."""

    items: list[RawIdField]
    scores: list[float]


class ScorePair(_Request):
    """One (user, item) pair to score."""

    user: RawIdField
    item: RawIdField


class ScoreRequest(_Request):
    """Pairs to score with the model."""

    pairs: Annotated[list[ScorePair], Field(min_length=1, max_length=MAX_PAIRS)]


class ScoreResponse(BaseModel):
    """One score per pair; null where the user or the item is unknown to the model."""

    scores: list[float | None]


class HealthResponse(BaseModel):
    """The server is up and a model is loaded."""

    status: Literal["ok"]
    model: str
    generation: int = Field(description="1 for the first model, +1 on each reload")


class MetadataResponse(BaseModel):
    """The served model and the server."""

    model: str
    params: dict[str, Any]
    train_fingerprint: str | None
    n_users: int
    n_items: int
    fit_seconds: float | None
    siftrec_version: str
    versions: dict[str, str] = Field(description="library versions the model was fitted with")
    serving_versions: dict[str, str] = Field(description="library versions serving it")
    model_dir: str
    loaded_at: float
    ann: str
    supports_fold_in: bool
    supports_similar_items: bool
    generation: int


class ReloadRequest(_Request):
    """Load ``model_dir`` (default: the directory served now, e.g. after a refit into it)."""

    model_dir: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class ReloadResponse(BaseModel):
    """The model now served."""

    model: str
    model_dir: str
    generation: int
    load_seconds: float


@dataclass(frozen=True)
class Schemas:
    """The request models whose caps depend on the server's settings."""

    recommend: type[BaseModel]
    batch: type[BaseModel]
    similar: type[BaseModel]


def build_schemas(max_k: int) -> Schemas:
    """Request models with ``k`` capped at ``max_k``."""
    K = Annotated[int, Field(ge=1, le=max_k, strict=True, description=f"1 to {max_k}")]

    class RecommendRequest(_Request):
        """A known ``user``, a ``history`` of raw item ids (fold-in), both, or neither
        (popularity)."""

        user: RawIdField | None = None
        history: IdList | None = None
        k: K = 10
        exclude_seen: bool = Field(True, description="leave out the user's or history's items")
        allow: IdList | None = Field(None, description="recommend only among these items")
        deny: IdList | None = Field(None, description="never recommend these items")

    class BatchRequest(_Request):
        """Several recommendation requests answered in one call."""

        requests: Annotated[list[RecommendRequest], Field(min_length=1, max_length=MAX_BATCH)]

    class SimilarItemsRequest(_Request):
        """The ``k`` items most similar to ``item``."""

        item: RawIdField
        k: K = 10

    return Schemas(RecommendRequest, BatchRequest, SimilarItemsRequest)
