import resource

import pytest

from siftrec import SiftrecError, resources


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_available_memory_reads_meminfo(tmp_path):
    meminfo = _write(tmp_path / "meminfo", "MemTotal: 8000 kB\nMemAvailable:    3000 kB\n")
    assert resources.available_memory(meminfo) == 3000 * 1024
    assert resources.available_memory(_write(tmp_path / "old", "MemTotal: 8 kB\n")) is None
    assert resources.available_memory(tmp_path / "absent") is None


def test_address_space_headroom_subtracts_the_current_size(tmp_path):
    status = _write(tmp_path / "status", "Name: python\nVmSize:\t  100000 kB\nVmRSS: 10 kB\n")
    assert resources.address_space_headroom(500_000 * 1024, status) == 400_000 * 1024
    assert resources.address_space_headroom(50 * 1024, status) == 0  # already past it
    assert resources.address_space_headroom(resource.RLIM_INFINITY, status) is None


def _mountinfo(tmp_path, lines):
    return _write(tmp_path / "mountinfo", "".join(line + "\n" for line in lines))


def test_cgroup_v2_limit_of_the_process_and_its_parents(tmp_path):
    root = tmp_path / "fs"
    _write(root / "memory.max", "max\n")  # the root: unlimited
    _write(root / "app/memory.max", "8000000000\n")
    _write(root / "app/memory.current", "1000000000\n")
    _write(root / "app/worker/memory.max", "max\n")
    _write(root / "app/worker/memory.current", "500000000\n")
    cgroup = _write(tmp_path / "cgroup", "0::/app/worker\n")
    mountinfo = _mountinfo(
        tmp_path,
        [
            "25 1 0:22 / /proc rw - proc proc rw",
            f"31 23 0:28 / {root} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate",
        ],
    )
    # The worker is unlimited, but its parent caps it at 8 GB with 1 GB in use.
    assert resources.cgroup_headroom(cgroup, mountinfo) == 7_000_000_000
    _write(root / "app/worker/memory.max", "1500000000\n")
    assert resources.cgroup_headroom(cgroup, mountinfo) == 1_000_000_000


def test_cgroup_v1_memory_controller_and_unlimited_marker(tmp_path):
    memory = tmp_path / "memory"
    _write(memory / "jobs/42/memory.limit_in_bytes", "4000000000\n")
    _write(memory / "jobs/42/memory.usage_in_bytes", "100000000\n")
    _write(memory / "memory.limit_in_bytes", "9223372036854771712\n")  # "no limit"
    cgroup = _write(tmp_path / "cgroup", "5:cpu,cpuacct:/\n4:memory:/jobs/42\n0::/\n")
    mountinfo = _mountinfo(
        tmp_path,
        [
            f"32 31 0:29 / {tmp_path / 'cpu'} rw - cgroup cgroup rw,cpu,cpuacct",
            f"35 31 0:32 / {memory} rw - cgroup cgroup rw,memory",
        ],
    )
    assert resources.cgroup_headroom(cgroup, mountinfo) == 3_900_000_000
    _write(memory / "jobs/42/memory.limit_in_bytes", "9223372036854771712\n")
    assert resources.cgroup_headroom(cgroup, mountinfo) is None


def test_cgroup_namespace_hides_the_path(tmp_path):
    """Inside a container the cgroup path may not exist under the mount: the mount is ours."""
    root = tmp_path / "fs"
    _write(root / "memory.max", "2000000000\n")
    _write(root / "memory.current", "500000000\n")
    cgroup = _write(tmp_path / "cgroup", "0::/../../host/slice\n")
    mountinfo = _mountinfo(tmp_path, [f"31 23 0:28 / {root} rw - cgroup2 cgroup2 rw"])
    assert resources.cgroup_headroom(cgroup, mountinfo) == 1_500_000_000
    assert resources.cgroup_headroom(tmp_path / "absent", mountinfo) is None


def test_memory_limit_is_the_smallest_known_source(monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 16 * 10**9)
    monkeypatch.setattr(resources, "address_space_headroom", lambda: None)
    monkeypatch.setattr(resources, "cgroup_headroom", lambda: 3_900_000_000)
    assert resources.memory_limits() == {"available memory": 16 * 10**9, "cgroup limit": 3.9e9}
    assert resources.memory_limit() == 3_900_000_000
    monkeypatch.setattr(resources, "address_space_headroom", lambda: 10**9)
    assert resources.memory_limit() == 10**9


def test_require_memory_names_estimate_limit_source_and_alternative(monkeypatch):
    monkeypatch.setattr(
        resources, "memory_limits", lambda: {"available memory": 10**10, "cgroup limit": 3.9e9}
    )
    resources.require_memory(3_000_000_000, "EASE on 1 item", "use less")
    with pytest.raises(SiftrecError) as err:
        resources.require_memory(
            14_400_000_000,
            "EASE on 60,000 items",
            "use itemknn or ials",
            detail="the 60,000² Gram matrix and its inverse",
        )
    assert str(err.value) == (
        "EASE on 60,000 items needs ~14.4 GB (the 60,000² Gram matrix and its inverse) but the "
        "process may use 3.9 GB (cgroup limit); use itemknn or ials"
    )
    with pytest.raises(SiftrecError, match=r"may use 1\.0 kB \(free memory on cuda:0\); x$"):
        resources.require_memory(2000, "w", "x", limits={"free memory on cuda:0": 1000})


def test_format_bytes():
    assert resources.format_bytes(512) == "512 B"
    assert resources.format_bytes(4_000_000) == "4.0 MB"
    assert resources.format_bytes(14_400_000_000) == "14.4 GB"


def test_score_block_guard_names_estimate_limit_and_a_batch_size_that_fits():
    limits = {"available memory": 4_000_000_000}
    resources.require_score_block(1024, 100_000, limits=limits)  # 0.8 GB: fits
    with pytest.raises(SiftrecError) as err:
        resources.require_score_block(2048, 1_000_000, limits=limits)
    assert str(err.value) == (
        "scoring 2,048 users × 1,000,000 items needs ~16.4 GB (a dense float32 score block and "
        "one temporary) but the process may use 4.0 GB (available memory); use a smaller "
        "batch_size (at most 500 users fit)"
    )
    with pytest.raises(SiftrecError, match=r"too large to score densely; keep fewer items"):
        resources.require_score_block(1, 10**9, limits=limits)


def test_recommend_and_evaluate_refuse_a_score_block_that_does_not_fit(monkeypatch):
    from siftrec.data.synthetic import generate
    from siftrec.evaluate import evaluate
    from siftrec.models import Popularity

    log = generate(n_users=60, n_items=50, seed=0).interactions
    model = Popularity().fit(log)
    monkeypatch.setattr(resources, "memory_limits", lambda: {"available memory": 50 * 8 * 10})
    model.recommend([0, 1], k=5)  # 2 users × 50 items × 8 bytes fit
    with pytest.raises(
        SiftrecError,
        match=r"^scoring 20 users × 50 items needs ~8\.0 kB .*"
        r"at most 10 users fit\)$",
    ):
        model.recommend(list(range(20)), k=5, batch_size=1024)
    with pytest.raises(SiftrecError, match=r"^scoring 60 users × 50 items needs"):
        model.score(list(range(60)))
    with pytest.raises(SiftrecError, match=r"at most 10 users fit"):
        evaluate(model, log, "recall@5", batch_size=64)
    assert model.recommend(list(range(20)), k=5, batch_size=10)[0].shape == (20, 5)
