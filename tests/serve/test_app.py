"""The HTTP API in-process (TestClient): every endpoint, the contract and the error paths."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from siftrec import SiftrecError
from siftrec.models import EASE, IALS, Recommender
from siftrec.serve.app import create_app
from siftrec.serve.service import ModelService
from tests.serve.conftest import small_log

TOKEN = "0123456789abcdef-token"


@pytest.fixture(scope="module")
def client(ials_dir: Path) -> TestClient:
    return TestClient(create_app(ials_dir, max_k=50, max_body_bytes=4096))


@pytest.fixture(scope="module")
def model(ials_dir: Path) -> Recommender:
    return Recommender.load(ials_dir)


def _expected(model: Recommender, user: str, k: int, **masks: object) -> list[str]:
    top, _ = model.recommend(model.user_map_.to_index([user]), k, **masks)
    return model.item_map_.to_raw(top[0][top[0] >= 0]).tolist()


# ---------------------------------------------------------------------- the external contract
def test_contract_known_user(client: TestClient, model: Recommender) -> None:
    response = client.post("/recommend", json={"user": "u3", "k": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["items"] == _expected(model, "u3", 10)
    assert len(body["scores"]) == 10
    assert body["scores"] == sorted(body["scores"], reverse=True)
    assert body["fallback"] is None and body["source"] == "user"


def test_contract_history_folds_in(client: TestClient, model: Recommender) -> None:
    history = ["i1", "i5", "i9"]
    response = client.post("/recommend", json={"history": history, "k": 10})
    assert response.status_code == 200
    body = response.json()
    matrix = np.zeros((1, model.n_items), dtype=np.float32)
    matrix[0, model.item_map_.to_index(history)] = 1
    import scipy.sparse as sp

    top, scores = model.recommend_history(sp.csr_matrix(matrix), 10)
    assert body["items"] == model.item_map_.to_raw(top[0]).tolist()
    np.testing.assert_allclose(body["scores"], scores[0], rtol=1e-5)
    assert not set(history) & set(body["items"])
    assert body["source"] == "history"


def test_contract_health_and_k_zero(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/health").json()["status"] == "ok"
    assert client.post("/recommend", json={"user": "u3", "k": 0}).status_code == 422


def test_unknown_user_gets_popularity(client: TestClient, model: Recommender) -> None:
    body = client.post("/recommend", json={"user": "stranger", "k": 5}).json()
    assert body["fallback"] == "popularity" and body["source"] == "popularity"
    counts = np.asarray(model.seen_.sum(axis=0)).ravel()
    assert body["scores"] == sorted(counts, reverse=True)[:5]
    assert body["items"][0] == model.item_map_.to_raw(np.argmax(counts))


def test_history_of_unknown_items_falls_back(client: TestClient) -> None:
    body = client.post("/recommend", json={"history": ["nope", "gone"], "k": 3}).json()
    assert body["fallback"] == "popularity"
    assert body["unknown_items"] == ["nope", "gone"]


def test_known_user_with_history_folds_in_both(client: TestClient, model: Recommender) -> None:
    seen = model.item_map_.to_raw(model.seen_[3].indices).tolist()
    body = client.post("/recommend", json={"user": "u3", "history": ["i2"], "k": 20}).json()
    assert body["source"] == "history"
    assert not (set(seen) | {"i2"}) & set(body["items"])


# ---------------------------------------------------------------------- options
def test_allow_and_deny_lists(client: TestClient, model: Recommender) -> None:
    full = _expected(model, "u3", 10)
    body = client.post("/recommend", json={"user": "u3", "k": 10, "deny": full[:2]}).json()
    assert body["items"][:8] == full[2:]
    allow = [*full[5:], "unknown-item"]
    body = client.post("/recommend", json={"user": "u3", "k": 3, "allow": allow}).json()
    assert body["items"] == full[5:8]
    body = client.post("/recommend", json={"user": "stranger", "k": 3, "allow": ["i7"]}).json()
    assert body["items"] == ["i7"]


def test_exclude_seen_false_may_return_training_items(
    client: TestClient, model: Recommender
) -> None:
    body = client.post("/recommend", json={"user": "u3", "k": 10, "exclude_seen": False}).json()
    assert body["items"] == _expected(model, "u3", 10, exclude_seen=False)


def test_k_beyond_admissible_items_gives_fewer(client: TestClient, model: Recommender) -> None:
    deny = model.item_map_.ids[:20].tolist()
    body = client.post("/recommend", json={"user": "u3", "k": 50, "deny": deny}).json()
    excluded = set(deny) | set(model.item_map_.to_raw(model.seen_[3].indices).tolist())
    assert len(body["items"]) == model.n_items - len(excluded) < 50


def test_integer_ids(tmp_path: Path) -> None:
    log = small_log()
    from siftrec import Interactions

    numeric = Interactions.from_csr(log.binary)
    directory = EASE().fit(numeric).save(tmp_path / "ease")
    client = TestClient(create_app(directory))
    as_int = client.post("/recommend", json={"user": 3, "k": 5}).json()
    as_text = client.post("/recommend", json={"user": "3", "k": 5}).json()
    assert as_int == as_text and all(isinstance(i, int) for i in as_int["items"])


# ---------------------------------------------------------------------- other endpoints
def test_batch_answers_each_request(client: TestClient) -> None:
    requests = [{"user": "u1", "k": 3}, {"history": ["i4"], "k": 2}, {"user": "nobody"}]
    body = client.post("/recommend/batch", json={"requests": requests}).json()
    singles = [client.post("/recommend", json=r).json() for r in requests]
    assert body["results"] == singles


def test_similar_items(client: TestClient, model: Recommender) -> None:
    body = client.post("/similar-items", json={"item": "i3", "k": 4}).json()
    top, _ = model.similar_items(model.item_map_.to_index(["i3"]), 4)
    assert body["items"] == model.item_map_.to_raw(top[0]).tolist()
    assert "i3" not in body["items"]
    missing = client.post("/similar-items", json={"item": "nope", "k": 4})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_similar_items_unsupported_is_422(popularity_dir: Path) -> None:
    client = TestClient(create_app(popularity_dir))
    response = client.post("/similar-items", json={"item": "i3"})
    assert response.status_code == 422
    assert "similar items" in response.json()["detail"]


def test_score_pairs(client: TestClient, model: Recommender) -> None:
    pairs = [{"user": "u1", "item": "i2"}, {"user": "x", "item": "i2"}, {"user": "u1", "item": 5}]
    scores = client.post("/score", json={"pairs": pairs}).json()["scores"]
    expected = model.score(model.user_map_.to_index(["u1"]))[0, model.item_map_.to_index(["i2"])]
    assert scores[0] == pytest.approx(float(expected[0]), rel=1e-5)
    assert scores[1] is None and scores[2] is None


def test_metadata(client: TestClient, model: Recommender, ials_dir: Path) -> None:
    body = client.get("/metadata").json()
    assert body["model"] == "ials"
    assert body["params"]["factors"] == 8
    assert body["train_fingerprint"] == model.train_fingerprint_
    assert body["n_items"] == model.n_items and body["n_users"] == model.n_users
    assert body["model_dir"] == str(ials_dir.resolve())
    assert {"torch", "numpy"} <= set(body["versions"]) and "fastapi" in body["serving_versions"]


def test_openapi_is_served(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/recommend", "/recommend/batch", "/similar-items", "/score", "/health"} <= set(paths)
    assert "/admin/reload" not in paths


# ---------------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    "body",
    [
        {"user": "u1", "k": -1},
        {"user": "u1", "k": 51},
        {"user": "u1", "k": "ten"},
        {"user": "u1", "k": 2.5},
        {"user": "u1", "colour": "red"},
        {"user": True},
        {"user": 1.5},
        {"user": ["u1"]},
        {"user": ""},
        {"user": " u1"},
        {"user": 2**64},
        {"history": "i1"},
        {"history": [None]},
        {"user": "NA"},
        {"history": ["i1", "null"]},
    ],
)
def test_bad_requests_are_422(client: TestClient, body: dict) -> None:
    response = client.post("/recommend", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/recommend", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_oversized_bodies_are_413(client: TestClient) -> None:
    history = [f"item-{i}" for i in range(2000)]
    response = client.post("/recommend", json={"history": history})
    assert response.status_code == 413
    assert "4096 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: the streamed size is counted
        for _ in range(10):
            yield b" " * 1000

    response = client.post("/recommend", content=chunks())
    assert response.status_code == 413


def test_app_settings_are_checked(ials_dir: Path, ease_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SiftrecError, match="max_k"):
        create_app(ials_dir, max_k=0)
    with pytest.raises(SiftrecError, match="at least 16"):
        create_app(ials_dir, admin_token="short")
    with pytest.raises(SiftrecError, match="not a siftrec model directory"):
        create_app(tmp_path)
    with pytest.raises(SiftrecError, match="dot-product"):
        create_app(ease_dir, ann="faiss")
    with pytest.raises(SiftrecError, match="unknown ANN backend"):
        create_app(ials_dir, ann="annoy")


# ---------------------------------------------------------------------- reload
def test_admin_reload_needs_the_token(ials_dir: Path, ease_dir: Path) -> None:
    client = TestClient(create_app(ials_dir, admin_token=TOKEN))
    assert client.post("/admin/reload").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert client.post("/admin/reload", headers=wrong).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = client.post("/admin/reload", json={"model_dir": str(ease_dir)}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "ease" and response.json()["generation"] == 2
    assert client.get("/metadata").json()["model"] == "ease"
    assert client.get("/health").json()["generation"] == 2
    bad = client.post("/admin/reload", json={"model_dir": "/no/such/dir"}, headers=auth)
    assert bad.status_code == 422
    assert client.get("/metadata").json()["model"] == "ease"  # the failed load changed nothing


def test_reload_is_atomic_for_in_flight_requests(
    ials_dir: Path, ease_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that started on the old model finishes on it while the new one is swapped in."""
    app = create_app(ials_dir, admin_token=TOKEN)
    client = TestClient(app)
    started, release = threading.Event(), threading.Event()
    original = ModelService.recommend

    def slow(self: ModelService, query: object) -> object:
        if self.model.name == "ials":
            started.set()
            assert release.wait(10)
        return original(self, query)

    monkeypatch.setattr(ModelService, "recommend", slow)
    results: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: results.update(old=client.post("/recommend", json={"user": "u1"}))
    )
    worker.start()
    assert started.wait(10)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    reload = client.post("/admin/reload", json={"model_dir": str(ease_dir)}, headers=auth)
    assert reload.status_code == 200
    new = client.post("/recommend", json={"user": "u1"}).json()
    release.set()
    worker.join(10)
    old = results["old"].json()
    expected_old = _expected(Recommender.load(ials_dir), "u1", 10)
    expected_new = _expected(Recommender.load(ease_dir), "u1", 10)
    assert old["items"] == expected_old and new["items"] == expected_new
    assert expected_old != expected_new


def test_watch_reloads_a_replaced_directory(tmp_path: Path) -> None:
    directory = (
        IALS(factors=4, iterations=1, seed=0, device="cpu").fit(small_log()).save(tmp_path / "m")
    )
    with TestClient(create_app(directory, watch_seconds=0.05)) as client:
        assert client.get("/metadata").json()["model"] == "ials"
        EASE().fit(small_log()).save(directory)  # replaces the directory as a whole
        deadline = time.monotonic() + 10
        while client.get("/health").json()["generation"] == 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/metadata").json()["model"] == "ease"


def test_faiss_retrieval_serves_the_exact_answers(ials_dir: Path) -> None:
    """A catalog this small is one IVF cell: the ANN path must give the exact results."""
    exact, ann = TestClient(create_app(ials_dir)), TestClient(create_app(ials_dir, ann="faiss"))
    assert ann.get("/metadata").json()["ann"] == "faiss"
    for body in (
        {"user": "u5", "k": 10},
        {"user": "u5", "k": 10, "deny": ["i0", "i1"]},
        {"user": "u5", "k": 10, "exclude_seen": False},
        {"user": "u5", "k": 4, "allow": ["i3", "i4", "i5", "i6", "i7"]},
    ):
        want, got = exact.post("/recommend", json=body).json(), ann.post("/recommend", json=body)
        assert got.json()["items"] == want["items"]
        np.testing.assert_allclose(got.json()["scores"], want["scores"], rtol=1e-5)
