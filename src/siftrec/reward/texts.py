"""A reward model over texts: an offline encoder fitted on the log's texts, then a
:class:`~siftrec.reward.model.RewardModel` over the frozen embeddings; saved to a directory
(``reward.json`` + ``weights.npz``) that scores new candidates without the training log."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siftrec.atomic import DirectoryKind, atomic_directory
from siftrec.errors import SiftrecError
from siftrec.reward.model import RewardConfig, RewardModel
from siftrec.text.encoders import TextEncoder, TfidfSvdEncoder, get_encoder
from siftrec.version import __version__

REWARD_DIRECTORY = DirectoryKind(
    "siftrec reward model directory", "reward.json", ("reward", "params")
)


class TextRewardModel:
    """Engagement of (context text, candidate text) pairs.

    Args:
        encoder: ``tfidf`` (fitted on the log's context and candidate texts), ``tfidf:<dim>``
            or ``static``.
        config: the reward model's hyperparameters.
        device: torch device.
    """

    def __init__(
        self, encoder: str = "tfidf", config: RewardConfig | None = None, device: str = "auto"
    ) -> None:
        self.encoder_spec = encoder
        self.config = config or RewardConfig()
        self.device = device
        self.encoder_: TextEncoder | None = None
        self.model_: RewardModel | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts`` (each distinct text encoded once)."""
        if self.encoder_ is None:
            raise SiftrecError("the reward model is not fitted; call fit first")
        unique, inverse = np.unique(np.asarray(texts, dtype=str), return_inverse=True)
        return self.encoder_.encode(unique.tolist())[inverse]

    def fit(
        self,
        context_texts: Sequence[str],
        candidate_texts: Sequence[str],
        clicks: np.ndarray,
        groups: np.ndarray,
        propensities: np.ndarray | None = None,
    ) -> TextRewardModel:
        """Fit the encoder on all texts of the log, then the reward model on its rows."""
        self.encoder_ = get_encoder(self.encoder_spec, seed=self.config.seed)
        self.encoder_.fit(sorted(set(context_texts) | set(candidate_texts)))
        self.model_ = RewardModel(self.config, device=self.device).fit(
            self.embed(context_texts), self.embed(candidate_texts), clicks, groups, propensities
        )
        return self

    def score(self, context_texts: Sequence[str], candidate_texts: Sequence[str]) -> np.ndarray:
        """Rewards of the (context, candidate) rows."""
        if self.model_ is None:
            raise SiftrecError("the reward model is not fitted; call fit first")
        return self.model_.score(self.embed(context_texts), self.embed(candidate_texts))

    def save(self, directory: str | Path) -> Path:
        """Write ``reward.json`` and ``weights.npz`` atomically into ``directory``."""
        if self.model_ is None:
            raise SiftrecError("the reward model is not fitted; call fit first")
        arrays = {f"net.{k}": v for k, v in self.model_.state().items()}
        if isinstance(self.encoder_, TfidfSvdEncoder):
            arrays.update({f"encoder.{k}": v for k, v in self.encoder_.state().items()})
        meta = {
            "reward": "text",
            "params": dataclasses.asdict(self.config),
            "encoder": self.encoder_spec,
            "encoder_fingerprint": self.encoder_.fingerprint,
            "siftrec": __version__,
        }
        with atomic_directory(directory, REWARD_DIRECTORY) as tmp:
            with (tmp / "weights.npz").open("wb") as handle:
                np.savez(handle, **arrays)
            (tmp / "reward.json").write_text(json.dumps(meta, indent=2) + "\n")
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> TextRewardModel:
        """A model saved by :meth:`save`."""
        directory = Path(directory)
        meta_path = directory / "reward.json"
        if not meta_path.is_file():
            raise SiftrecError(f"{directory} is not a reward model directory (no reward.json)")
        try:
            meta = json.loads(meta_path.read_text())
            config = RewardConfig(**meta["params"])
            with np.load(directory / "weights.npz") as archive:
                arrays = {k: archive[k] for k in archive.files}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SiftrecError(f"cannot read the reward model in {directory}: {exc}") from None
        model = cls(meta["encoder"], config, device)
        if meta["encoder"].startswith("tfidf"):
            state = {k[len("encoder.") :]: v for k, v in arrays.items() if k.startswith("encoder.")}
            model.encoder_ = TfidfSvdEncoder.from_state(state)
        else:
            model.encoder_ = get_encoder(meta["encoder"])
        if model.encoder_.fingerprint != meta["encoder_fingerprint"]:
            raise SiftrecError(
                f"the encoder of {directory} differs from the one it was fitted with"
            )
        net = {k[len("net.") :]: v for k, v in arrays.items() if k.startswith("net.")}
        model.model_ = RewardModel.from_state(config, net, device)
        return model
