import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from siftrec import Interactions, SiftrecError, resources
from siftrec.models import EASE, Popularity, load_model
from siftrec.models import ease as ease_module
from siftrec.testing import contract_log as contract_data
from tests.models.test_knn import ml100k_split, recall_at


def _b(model: EASE) -> np.ndarray:
    return model.B_.cpu().numpy().astype(np.float64)


def _random_log(seed: int = 1, n_users: int = 40, n_items: int = 12) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((n_users, n_items)) < 0.3).astype(np.float32))


def test_closed_form_matches_independent_ridge_regressions():
    x = _random_log()
    lam = 7.0
    model = EASE(l2=lam, dtype="float64").fit(Interactions.from_csr(x))
    b = _b(model)
    assert model.B_.dtype == torch.float64
    np.testing.assert_array_equal(np.diag(b), 0.0)
    # Independent solution: column j is the ridge regression of item j on the other items.
    dense = x.toarray().astype(np.float64)
    n = dense.shape[1]
    expected = np.zeros((n, n))
    for j in range(n):
        others = np.delete(np.arange(n), j)
        xo = dense[:, others]
        expected[others, j] = np.linalg.solve(xo.T @ xo + lam * np.eye(n - 1), xo.T @ dense[:, j])
    np.testing.assert_allclose(b, expected, rtol=1e-9, atol=1e-12)
    # KKT: (XᵀX + λI) B − XᵀX is diagonal (the Lagrange multipliers of diag(B) = 0).
    gram = dense.T @ dense
    residual = (gram + lam * np.eye(n)) @ b - gram
    np.testing.assert_allclose(residual - np.diag(np.diag(residual)), 0.0, atol=1e-9)


def test_float32_close_to_float64():
    data = Interactions.from_csr(_random_log(seed=2))
    b32 = _b(EASE(l2=5.0).fit(data))
    b64 = _b(EASE(l2=5.0, dtype="float64").fit(data))
    np.testing.assert_allclose(b32, b64, atol=1e-5)


def test_scores_are_history_times_b():
    data = contract_data()
    model = EASE(l2=30.0).fit(data)
    expected = data.binary[:6].toarray() @ _b(model)
    np.testing.assert_allclose(model.score(np.arange(6)), expected, rtol=1e-5, atol=1e-6)
    # Binary input: a history with weight 5 scores the same as with weight 1.
    heavy = data.binary[:2] * 5.0
    np.testing.assert_allclose(model.score_history(heavy), model.score([0, 1]), rtol=1e-6)


def test_weights_when_not_binary(tmp_path):
    x = _random_log(seed=4)
    x.data = np.arange(1, x.nnz + 1, dtype=np.float32) % 4 + 1
    data = Interactions.from_csr(x)
    model = EASE(l2=3.0, binary=False, dtype="float64").fit(data)
    dense = x.toarray().astype(np.float64)
    p = np.linalg.inv(dense.T @ dense + 3.0 * np.eye(x.shape[1]))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(_b(model), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.score([0, 1]), dense[:2] @ expected, rtol=1e-5, atol=1e-6)
    loaded = load_model(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.score([0, 1]), model.score([0, 1]))


def test_memory_guard_refuses_and_force_bypasses(monkeypatch):
    data = Interactions.from_csr(_random_log())
    monkeypatch.setattr(resources, "memory_limits", lambda: {"cgroup limit": 1024})
    message = (
        r"^EASE on 12 items needs ~268\.4 MB \(the 12² float32 Gram matrix, inverted in place\) "
        r"but the process may use 1\.0 kB \(cgroup limit\); use itemknn or ials"
    )
    with pytest.raises(SiftrecError, match=message):
        EASE(device="cpu").fit(data)
    assert EASE(device="cpu", force=True).fit(data).B_.shape == (12, 12)


def test_memory_guard_on_a_huge_catalog(monkeypatch):
    huge = sp.csr_matrix(([1.0, 1.0], ([0, 1], [0, 299_999])), shape=(2, 300_000))
    data = Interactions.from_csr(huge)
    limits = {"available memory": 64 * 10**9, "address-space limit": 3_900_000_000}
    monkeypatch.setattr(resources, "memory_limits", lambda: limits)
    # 300k² float32 = 360 GB; float64 twice that.
    with pytest.raises(SiftrecError, match=r"needs ~360\.3 GB .* 3\.9 GB \(address-space limit\)"):
        EASE(device="cpu").fit(data)
    with pytest.raises(SiftrecError, match=r"720\.3 GB .*, use dtype=float32, or set force"):
        EASE(device="cpu", dtype="float64").fit(data)

    def reached(*args):
        raise RuntimeError("allocation reached")

    monkeypatch.setattr(ease_module, "gram_matrix", reached)
    with pytest.raises(RuntimeError, match="allocation reached"):
        EASE(device="cpu", force=True).fit(data)


def test_failed_allocation_when_forced_is_a_clear_error(monkeypatch):
    data = Interactions.from_csr(_random_log())

    def fail(*args):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 576")

    monkeypatch.setattr(ease_module, "gram_matrix", fail)
    with pytest.raises(SiftrecError, match=r"^EASE on 12 items ran out of memory allocating"):
        EASE(device="cpu", force=True).fit(data)


def test_address_space_limit_refuses_the_fit_before_allocating(tmp_path):
    """A real ``ulimit -v`` below the Gram matrix: a clear refusal instead of MemoryError."""
    script = textwrap.dedent(
        """
        import resource
        import scipy.sparse as sp
        from siftrec import Interactions, SiftrecError, resources
        from siftrec.models import EASE
        from siftrec.resources import address_space_headroom

        n = 20_000  # a 1.6 GB float32 Gram matrix
        data = Interactions.from_csr(sp.csr_matrix(([1.0, 1.0], ([0, 1], [0, n - 1])), (2, n)))
        vm = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/status") as status:
            size = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (size + 600 * 2**20, vm[1]))
        assert address_space_headroom() is not None
        try:
            EASE(device="cpu").fit(data)
        except SiftrecError as exc:
            print("REFUSED", exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("REFUSED EASE on 20,000 items needs ~1.9 GB"), result.stdout
    assert "(address-space limit)" in result.stdout


def test_load_refuses_weights_of_the_wrong_shape(tmp_path):
    saved = EASE(l2=10.0).fit(Interactions.from_csr(_random_log())).save(tmp_path / "m")
    np.savez(saved / "arrays.npz", B=np.zeros((11, 12), dtype=np.float32))
    with pytest.raises(
        SiftrecError, match=r"saved weights have shape \(11, 12\), expected \(12, 12\)"
    ):
        load_model(saved)


def test_required_bytes_counts_matrices():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    n = 1000
    block = ease_module.required_bytes(0, torch.float32, cpu)
    assert ease_module.required_bytes(n, torch.float32, cpu) - block == n * n * 4
    assert ease_module.required_bytes(n, torch.float64, cuda) - block == 2 * n * n * 8


def test_ml100k_beats_popularity(shared_data):
    train, test = ml100k_split(shared_data)
    popularity = recall_at(Popularity().fit(train), test)
    ease = recall_at(EASE(l2=500.0).fit(train), test)
    assert ease > 1.5 * popularity, (ease, popularity)


def test_device_is_a_fit_option_not_a_hyperparameter(tmp_path):
    model = EASE(l2=10.0, device=EASE.parse_param("device", "cpu"))
    assert model.options.device == "cpu" and "device" not in model.get_params()
    assert "device" not in EASE.search_space
    model.fit(Interactions.from_csr(_random_log()))
    assert model.B_.device == torch.device("cpu")
    params = json.loads((model.save(tmp_path / "new") / "model.json").read_text())["params"]
    assert params == {"l2": 10.0, "binary": True, "dtype": "float32", "force": False}


def test_a_model_json_with_device_in_params_still_loads(tmp_path):
    model = EASE(l2=10.0).fit(Interactions.from_csr(_random_log()))
    saved = model.save(tmp_path / "old")
    meta = json.loads((saved / "model.json").read_text())
    # the params block as model.json recorded it while device was a hyperparameter
    meta["params"] = {
        "l2": 10.0,
        "binary": True,
        "dtype": "float32",
        "device": "cpu",
        "force": False,
    }
    (saved / "model.json").write_text(json.dumps(meta))
    loaded = load_model(saved)
    assert loaded.options.device == "cpu" and "device" not in loaded.get_params()
    assert loaded.B_.device == torch.device("cpu")
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))
