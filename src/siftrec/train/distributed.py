"""Data-parallel training and evaluation of the torch models on ``torch.distributed``.

Every process (rank) holds a full replica of the scorer. The process group uses gloo on the CPU
and NCCL on CUDA (:func:`backend_for`, chosen from the fit's device); it is described by the
environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``), which :func:`launch_local` also sets for ``siftrec fit --nproc N``.

Training (:class:`Replica`, driven by ``siftrec.train.Trainer``):

- every rank draws the same seeded global epoch (the sampler runs on each rank) and
  :class:`UserShards` assigns the users to ranks afresh each epoch (seeded, disjoint, covering,
  balanced by interactions); a rank trains on its users' part of every mini-batch;
- a rank's loss is weighted by its share of the global batch and the gradients are summed over
  the ranks, so one step of N ranks is the step one process takes on the whole batch (exactly
  for objectives that average over the batch, up to float summation order);
- dense gradients are all-reduced; row-sparse embedding gradients (``nn.Embedding(sparse=True)``)
  are all-gathered as row indices and values and summed, on gloo and NCCL alike (NCCL has no
  sparse all-reduce), so a step communicates the touched rows, not the whole tables;
- the fused row-sparse path is single-process: a distributed fit takes the autograd path (it
  says so in the log); a compiled epoch (MF ``backend="numba"``) is refused.

Evaluation (:func:`evaluate_sharded`): each rank ranks its share of the held-out users and the
per-user metric sums are all-reduced, so the means are the single-process means.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from siftrec.data.interactions import Interactions
from siftrec.device import select_device
from siftrec.errors import SiftrecError
from siftrec.evaluate import evaluate
from siftrec.evaluate.metrics import Metric, metric_names
from siftrec.evaluate.protocol import evaluable_heldout
from siftrec.train.engine import Batch

__all__ = [
    "Replica",
    "UserShards",
    "active",
    "backend_for",
    "distributed_session",
    "evaluate_sharded",
    "free_port",
    "init_distributed",
    "is_main",
    "launch_local",
    "launched",
    "metric_sums",
    "rank",
    "world_size",
]


# ---------------------------------------------------------------------- process group
def backend_for(device: torch.device) -> str:
    """The collective backend of ``device``: NCCL on CUDA, gloo elsewhere."""
    return "nccl" if device.type == "cuda" else "gloo"


def launched() -> bool:
    """Whether this process was started as one of several ranks (``WORLD_SIZE`` > 1)."""
    return _env_int("WORLD_SIZE", 1) > 1


def active() -> bool:
    """Whether a process group of more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """Number of ranks (1 outside a process group)."""
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Whether this process is rank 0, the one that writes outputs."""
    return rank() == 0


def init_distributed(device: str | None = "auto") -> bool:
    """Join the process group the environment describes (``torchrun``, :func:`launch_local`).

    The backend follows the device the fit will use (:func:`backend_for`); on CUDA each rank
    takes ``cuda:LOCAL_RANK``. Returns whether this call initialised the group (False when the
    process is not one of several ranks or the group already exists).
    """
    if not launched() or dist.is_initialized():
        return False
    if not dist.is_available():
        raise SiftrecError("this torch build has no torch.distributed; train in one process")
    target = select_device(device)
    if target.type == "cuda":
        if target.index is not None:
            raise SiftrecError(
                f"device={device!r} names one GPU, but each distributed rank uses "
                "cuda:LOCAL_RANK; give device=cuda (or auto)"
            )
        local = _env_int("LOCAL_RANK", 0)
        if local >= torch.cuda.device_count():
            raise SiftrecError(
                f"LOCAL_RANK {local} but this node has {torch.cuda.device_count()} GPU(s); "
                "start at most one process per GPU"
            )
        torch.cuda.set_device(local)
    dist.init_process_group(backend_for(target))
    return True


@contextlib.contextmanager
def distributed_session(device: str | None = "auto") -> Iterator[None]:
    """Within the block, the process group of the environment (if any) is up; it is torn down
    after the block when this call created it."""
    created = init_distributed(device)
    try:
        yield
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()


def free_port() -> int:
    """A TCP port free on the loopback interface now (for the rendezvous of local ranks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_local(nproc: int, target: Callable[..., None], args: tuple = ()) -> None:
    """Run ``target(*args)`` in ``nproc`` new local processes that form one process group.

    Each process gets the environment ``torchrun`` would set (ranks ``0..nproc-1``, a free
    loopback port) and, unless ``OMP_NUM_THREADS`` is set, an equal share of the CPU threads;
    ``target`` must be a module-level function (it is pickled to the spawned processes) and
    initialises the group itself (:func:`distributed_session`). A failed rank stops the others
    and raises a one-line error here.
    """
    from torch.multiprocessing import ProcessExitedException, ProcessRaisedException, spawn

    if nproc < 1:
        raise SiftrecError(f"nproc must be at least 1, got {nproc}")
    try:
        spawn(_run_rank, args=(nproc, free_port(), target, args), nprocs=nproc, join=True)
    except ProcessExitedException as exc:
        raise SiftrecError(
            f"rank {exc.error_index} of {nproc} exited with status {exc.exit_code}"
        ) from None
    except ProcessRaisedException as exc:
        last = str(exc).strip().splitlines()[-1]
        raise SiftrecError(f"rank {exc.error_index} of {nproc} failed: {last}") from None


def _run_rank(index: int, nproc: int, port: int, target: Callable[..., None], args: tuple) -> None:
    """Body of one spawned rank: the torchrun environment, then ``target``."""
    os.environ.update(
        RANK=str(index),
        LOCAL_RANK=str(index),
        WORLD_SIZE=str(nproc),
        LOCAL_WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    try:
        target(*args)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SiftrecError(f"environment variable {name}={value!r} is not an integer") from None


# ---------------------------------------------------------------------- user shards
class UserShards:
    """A seeded assignment of users to ``world`` ranks, drawn afresh for every epoch.

    The users are shuffled by ``(seed, epoch)`` and cut into ``world`` contiguous runs of about
    equal total ``weights`` (interactions per user), so the shards are disjoint, cover every user
    and differ from epoch to epoch, like ``torch.utils.data.DistributedSampler.set_epoch``.
    """

    def __init__(self, weights: np.ndarray, world: int, seed: int) -> None:
        if world < 1:
            raise SiftrecError(f"world size must be at least 1, got {world}")
        self.weights = np.asarray(weights, dtype=np.float64)
        self.world, self.seed = world, seed

    def owners(self, epoch: int) -> np.ndarray:
        """The rank (int64) of every user in ``epoch``."""
        n = len(self.weights)
        order = np.random.default_rng([self.seed, epoch]).permutation(n)
        weights = self.weights[order]
        total = weights.sum()
        # a user goes to the rank whose share of the total holds the user's first interaction
        start = (np.cumsum(weights) - weights) / total if total > 0 else np.arange(n) / max(n, 1)
        owner = np.empty(n, dtype=np.int64)
        owner[order] = np.minimum((start * self.world).astype(np.int64), self.world - 1)
        return owner

    def users(self, rank: int, epoch: int) -> np.ndarray:
        """The sorted user indices of ``rank`` in ``epoch``."""
        return np.flatnonzero(self.owners(epoch) == rank)


# ---------------------------------------------------------------------- training
class Replica:
    """This rank's part of a data-parallel fit (built by the trainer when a group is active).

    Per epoch (:meth:`begin_epoch`) it draws the user shards; :meth:`local_batch` /
    :meth:`local_users` keep this rank's part of a global mini-batch and record its ``share``
    (local / global size), by which the trainer weights the local loss; :meth:`reduce_gradients`
    sums the weighted gradients over the ranks after each backward pass.

    Args:
        parameters: every trained parameter, in the same order on every rank.
        sparse: the parameters whose gradients are row-sparse (sparse embedding tables).
        weights: per-user weights of the shards (interactions, or 1 per user for listwise).
        seed: the fit's seed (shards of epoch ``e`` are drawn from ``(seed, e)``).
    """

    def __init__(
        self,
        parameters: Sequence[nn.Parameter],
        sparse: Sequence[nn.Parameter],
        weights: np.ndarray,
        seed: int,
    ) -> None:
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.parameters = list(parameters)
        sparse_ids = {id(p) for p in sparse}
        self.dense = [p for p in self.parameters if id(p) not in sparse_ids]
        self.sparse = [p for p in self.parameters if id(p) in sparse_ids]
        self.shards = UserShards(weights, self.world, seed)
        self.share = 1.0
        self.global_size = 0
        self._owner = torch.zeros(0, dtype=torch.int64)

    @classmethod
    def join(cls, modules: Sequence[nn.Module], weights: np.ndarray, seed: int) -> Replica | None:
        """The replica of ``modules``' parameters when a process group is active, else None.

        Rank 0's parameters are broadcast to the others, so every rank starts from them.
        """
        if not active():
            return None
        unique = {id(p): p for m in modules for p in m.parameters() if p.requires_grad}
        parameters = list(unique.values())  # a parameter shared by two modules counts once
        device = parameters[0].device if parameters else torch.device("cpu")
        if backend_for(device) != dist.get_backend():
            raise SiftrecError(
                f"the process group uses {dist.get_backend()} but the model trains on "
                f"{device.type}; start the group for the fit's device "
                "(distributed_session(device))"
            )
        sparse = [
            m.weight
            for module in modules
            for m in module.modules()
            if isinstance(m, nn.Embedding) and m.sparse and m.weight.requires_grad
        ]
        replica = cls(parameters, sparse, weights, seed)
        with torch.no_grad():
            for parameter in parameters:
                dist.broadcast(parameter.data, src=0)
        return replica

    def begin_epoch(self, epoch: int) -> None:
        """Draw this epoch's user shards."""
        self._owner = torch.from_numpy(self.shards.owners(epoch))

    def local_batch(self, batch: Batch) -> Batch:
        """This rank's part of a global sampled ``batch`` (possibly empty); sets ``share``."""
        mine = self._owner[batch.users] == self.rank
        self._record(int(mine.sum()), len(batch))
        rows = {  # every per-example field the sampler filled
            f.name: value[mine]
            for f in dataclasses.fields(batch)
            if isinstance(value := getattr(batch, f.name), torch.Tensor)
            and value.shape[:1] == (len(batch),)
        }
        return dataclasses.replace(batch, **rows)

    def local_users(self, users: np.ndarray) -> np.ndarray:
        """This rank's users among a global batch of ``users`` (listwise); sets ``share``."""
        mine = users[self._owner.numpy()[users] == self.rank]
        self._record(len(mine), len(users))
        return mine

    def _record(self, local: int, total: int) -> None:
        self.global_size = total
        self.share = local / total if total else 0.0

    def reduce_gradients(self) -> None:
        """Sum every parameter's gradient over the ranks (call after the backward pass).

        A parameter without a gradient on a rank counts as zero there; one without a gradient
        on every rank keeps none (as one process would leave it).
        """
        if self.dense:
            device = self.dense[0].device
            present = torch.tensor(
                [p.grad is not None for p in self.dense], dtype=torch.float32, device=device
            )
            dist.all_reduce(present)
            for parameter, flag in zip(self.dense, present.tolist(), strict=True):
                grad = parameter.grad
                if not flag:
                    continue
                if grad is None:
                    grad = torch.zeros_like(parameter)
                elif grad.is_sparse:
                    grad = grad.to_dense()
                dist.all_reduce(grad)
                parameter.grad = grad
        if self.sparse:
            self._reduce_sparse()

    def _reduce_sparse(self) -> None:
        """All-gather the row indices and values of the sparse gradients and sum them."""
        device = self.sparse[0].device
        grads = []
        for parameter in self.sparse:
            grad = parameter.grad
            if grad is None:
                grad = torch.sparse_coo_tensor(
                    torch.zeros((1, 0), dtype=torch.int64, device=device),
                    parameter.new_zeros((0, *parameter.shape[1:])),
                    parameter.shape,
                    check_invariants=False,  # empty
                )
            elif not grad.is_sparse:
                grad = grad.to_sparse(1)
            grads.append(grad.coalesce())
        counts = torch.tensor([g._nnz() for g in grads], dtype=torch.int64, device=device)
        gathered = [torch.empty_like(counts) for _ in range(self.world)]
        dist.all_gather(gathered, counts)
        per_rank = torch.stack(gathered).tolist()  # [world][parameter]
        for j, (parameter, grad) in enumerate(zip(self.sparse, grads, strict=True)):
            sizes = [row[j] for row in per_rank]
            width = max(sizes)
            rows = torch.zeros(width, dtype=torch.int64, device=device)
            values = parameter.new_zeros((width, *parameter.shape[1:]))
            rows[: grad._nnz()] = grad.indices()[0]
            values[: grad._nnz()] = grad.values()
            all_rows = [torch.empty_like(rows) for _ in range(self.world)]
            all_values = [torch.empty_like(values) for _ in range(self.world)]
            dist.all_gather(all_rows, rows)
            dist.all_gather(all_values, values)
            index = torch.cat([r[:n] for r, n in zip(all_rows, sizes, strict=True)])
            value = torch.cat([v[:n] for v, n in zip(all_values, sizes, strict=True)])
            parameter.grad = torch.sparse_coo_tensor(
                index.unsqueeze(0), value, parameter.shape, check_invariants=True
            ).coalesce()

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over the ranks (a new tensor)."""
        total = values.clone()
        dist.all_reduce(total)
        return total


# ---------------------------------------------------------------------- evaluation
def metric_sums(
    model: Any,
    test: Interactions,
    metrics: str | Sequence[str | Metric],
    rank: int,
    world: int,
    *,
    exclude: Interactions | Sequence[Interactions] | None = None,
    exclude_seen: bool = True,
    drop_cold_items: bool = True,
    batch_size: int = 2048,
) -> tuple[dict[str, float], int]:
    """Per-user metric sums over shard ``rank`` of ``world`` of the evaluable held-out users,
    and the number of those users (the full-ranking protocol of ``siftrec.evaluate``).

    The evaluable users (those with a held-out item after the protocol's filtering) are dealt
    out in turn, so the shards are disjoint, cover them and differ in size by at most one; the
    sums over all shards are the single-process sums. Catalog-level metrics (``coverage``) have
    no per-user values and are not summed (see :func:`evaluate_sharded`).
    """
    named = metric_names(metrics)
    keys = [key for key, metric in named.items() if metric.per_user]
    held, n_dropped = test.remap(model.user_map_, model.item_map_)
    held, _, users, _, _ = evaluable_heldout(model, held, n_dropped, len(test), drop_cold_items)
    mine = users[rank::world]
    if not mine.size:
        return dict.fromkeys(keys, 0.0), 0
    part = held.subset(np.isin(held.users, mine))
    result = evaluate(
        model,
        part,
        [named[key] for key in keys],  # keyed by their labels
        exclude=exclude,
        exclude_seen=exclude_seen,
        drop_cold_items=drop_cold_items,
        batch_size=batch_size,
    )
    sums = {key: float(np.sum(result.per_user[named[key].label])) for key in keys}
    return sums, result.n_users


def evaluate_sharded(
    model: Any,
    test: Interactions,
    metrics: str | Sequence[str | Metric] = "recall@20,ndcg@20",
    **options: Any,
) -> dict[str, float]:
    """Full-ranking metric means of ``model`` on ``test``, each rank ranking its share of the
    users and the sums all-reduced (one process: plain ``siftrec.evaluate.evaluate``).

    ``options`` are :func:`metric_sums`' keywords. Catalog-level metrics (``coverage``) are
    computed over all users on every rank, since they are not means over users.
    """
    if not active():
        return evaluate(model, test, metrics, **options).metrics
    named = metric_names(metrics)
    sums, n_users = metric_sums(model, test, metrics, rank(), world_size(), **options)
    keys = list(sums)
    device = torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")
    totals = torch.tensor([*sums.values(), n_users], dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    values = totals.tolist()
    means = {key: values[i] / values[-1] for i, key in enumerate(keys)}
    catalog = {key: metric for key, metric in named.items() if key not in means}
    if catalog:
        whole = evaluate(model, test, list(catalog.values()), **options).metrics
        means.update({key: whole[metric.label] for key, metric in catalog.items()})
    return {key: means[key] for key in named}
