"""Data-parallel NN-BCD on a Dask cluster: ``BCD(...).fit(model, X, y, iterations,
client=client)``.

The run is the same iteration as on one machine, not an approximation. The per-sample blocks
(U_i, V_i, the products W_i V_{i-1}) are column-separable, and each shard of the samples keeps
them in a Dask actor on one worker. The global blocks (W_i, b_i, G_i) need only sums over the
samples of size d², not n (``WeightSums``). So the C++ sweep (``Bcd``) runs in this process
and calls the shards through a ``Samples`` object. Each layer takes one round: the changed
W, b go to every worker, and the layer's sums come back (DESIGN §2).

Bytes moved per iteration, independent of n (each worker, d = the layer widths d_0 … d_N):
down, every W_i and b_i once; up, Σ_i (d_{i-1}² + d_{i-1} d_i) entries of the sums.

Inputs: numpy arrays (split into contiguous shards, one per worker, and scattered once), Dask
arrays (one shard per run of row chunks on a worker, kept where they are), or files each
worker reads its own rows of (``nnbcd.data_files``), so X never passes through here.
Needs ``pip install "nnbcd[distributed]"``.
"""

import numpy as np

from . import _validation as v
from ._native import DivergenceError, core
from .checkpoint import parts_fingerprint
from .data_files import DataFiles
from .memory import available_memory
from .model_file import dumps, loads
from .training_state import TrainingState


class WorkerLostError(RuntimeError):
    """A Dask worker holding a shard of the samples died during the run. The model keeps the
    parameters of the last completed iteration; continue from a checkpoint
    (``fit(..., checkpoint=PATH)``) on the same or another cluster."""


def import_distributed():
    """The ``distributed`` package, or ImportError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ImportError('training on a Dask cluster needs dask and distributed: '
                          'pip install "nnbcd[distributed]"') from None
    return distributed


class ShardActor:
    """One shard of the samples, on a Dask worker: its lifted variables in the C++ core and a
    copy of the network's W and b (the deployed form is not needed to train)."""

    def __init__(self, network, X, y, n_threads):
        model_bytes, weights, biases = network
        model = loads(model_bytes)
        if isinstance(X, tuple):  # (DataFiles, start, stop)
            files, start, stop = X
            X, y = files.rows(start, stop)
        X = model.check_input(np.concatenate(X) if isinstance(X, list) else X)
        y = np.concatenate(y) if isinstance(y, list) else y
        Y, self._labels = v.check_targets(y, X.shape[0], model.sizes[-1], model.dtype)
        worker = import_distributed().get_worker()
        needed, available = model.training_bytes(X.shape[0]), available_memory()
        if available is not None and needed > available:
            raise MemoryError(
                f"worker {worker.address}: its shard of {X.shape[0]} samples needs about "
                f"{needed / 2**30:.2f} GiB for the lifted variables; only "
                f"{available / 2**30:.2f} GiB is available there. Use more workers or float32")
        self._n_threads = n_threads or worker.nthreads
        self._X, self._Y = X, Y
        self._model = model
        self._assign(dict(enumerate(zip(weights, biases))))
        shard = core.Shard32 if model.dtype == np.float32 else core.Shard64
        self._shard = shard(model._net, X, Y, self._n_threads)

    def n_samples(self):
        return self._X.shape[0]

    def _assign(self, changed):
        """W_i, b_i from ``changed`` ({i: (W_i, b_i)}) into this worker's network."""
        net = self._model._net
        for i, (W, b) in changed.items():
            net.weight(i)[...] = W
            net.bias(i)[...] = b

    def _set_parameters(self, changed):
        self._assign(changed)
        for i in changed:
            self._shard.parameters_changed(i)

    def update_lifted(self, changed, i, gamma, rho, alpha, centre):
        self._set_parameters(changed)
        sums = self._shard.update_lifted(self._model._net, i, gamma, rho, alpha, centre,
                                         self._n_threads)
        return sums.arrays()

    def input_moments(self, i):
        return self._shard.input_moments(i, self._n_threads)

    def objective_sums(self, changed):
        self._set_parameters(changed)
        return self._shard.objective_sums(self._model._net, self._n_threads)

    def extrapolate(self, beta):
        self._shard.extrapolate(beta, self._n_threads)

    def shorten_extrapolation(self, fraction):
        self._shard.shorten_extrapolation(fraction, self._n_threads)

    def correct(self, model_bytes):
        """How many of this shard's samples the deployed model classifies right."""
        model = loads(model_bytes)
        return int(np.sum(model.predict(self._X, self._n_threads) == self._labels))

    def data(self):
        return self._X, self._Y

    def lifted(self):
        layers = range(self._model.n_layers)
        return [self._shard.U(i) for i in layers], [self._shard.V(i) for i in layers]

    def restore(self, U, V):
        self._shard.restore(self._model._net, U, V)


class _DaskShards:
    """The ``Samples`` of a run whose shards are ``ShardActor`` s: what the C++ sweep calls.
    Each call sends the W_i, b_i changed since the last one along with it."""

    def __init__(self, client, actors, workers, counts):
        self._client, self._actors, self._workers = client, actors, workers
        self.counts = counts
        self._changed = set()
        # Array bytes sent to and received from the workers, all shards together (what the
        # communication model of bench/dask_cluster.py counts; protocol overhead not included).
        self.bytes_sent = self.bytes_received = 0

    def n_samples(self):
        return int(sum(self.counts))

    def update_lifted(self, net, i, gamma, rho, alpha, centre):
        return self._sum(self.call("update_lifted", self._changes(net), i, gamma, rho, alpha,
                                   centre))

    def input_moments(self, net, i):
        parts = self.call("input_moments", i)
        return (float(sum(count for count, _, _ in parts)), sum(m for _, m, _ in parts),
                sum(q for _, _, q in parts))

    def objective_sums(self, net):
        terms = self.call("objective_sums", self._changes(net))
        return tuple(float(sum(term)) for term in zip(*terms))

    def parameters_changed(self, i):
        self._changed.add(i)

    def extrapolate(self, beta):
        self.call("extrapolate", beta)

    def shorten_extrapolation(self, fraction):
        self.call("shorten_extrapolation", fraction)

    def _changes(self, net):
        changes = {i: (np.array(net.weight(i)), np.array(net.bias(i)))
                   for i in sorted(self._changed)}
        self._changed.clear()
        return changes

    def _sum(self, parts):
        total = self._sums_type(*parts[0])
        for part in parts[1:]:
            total += self._sums_type(*part)
        return total

    def call(self, method, *args, shards=None):
        """``method(*args)`` on every shard (or those listed) at once; their results in order.
        A lost worker raises ``WorkerLostError`` naming it."""
        shards = list(range(len(self._actors))) if shards is None else shards
        k = None
        try:
            futures = []
            for k in shards:
                futures.append(getattr(self._actors[k], method)(*args))
            self.bytes_sent += len(futures) * _array_bytes(args)
            results = []
            for k, future in zip(shards, futures):
                results.append(future.result())
        except Exception as error:
            self._raise_if_lost(k, error)
            if isinstance(error, RuntimeError) and str(error).startswith("nnbcd:"):
                # a numerical failure on the worker (a Cholesky factorisation that broke down)
                raise DivergenceError(f"{error} (on Dask worker {self._workers[k]})") from error
            raise
        self.bytes_received += _array_bytes(results)
        return results

    def _raise_if_lost(self, k, error):
        """WorkerLostError if the worker of shard k is gone."""
        if k is None or self._worker_alive(k):
            return
        start = int(sum(self.counts[:k]))
        raise WorkerLostError(
            f"Dask worker {self._workers[k]} holding shard {k} (samples {start}:"
            f"{start + self.counts[k]}) was lost during the run ({error}); the model keeps the "
            "parameters of the last completed iteration. Continue from a checkpoint "
            "(fit(..., checkpoint=PATH)) on the same or another cluster") from error

    def _worker_alive(self, k):
        try:
            return self._workers[k] in self._client.scheduler_info()["workers"]
        except Exception:  # the scheduler is gone too
            return False


def _array_bytes(value):
    """The bytes of the numpy arrays in ``value`` (nested in tuples, lists and dicts)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_array_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(_array_bytes(item) for item in value.values())
    return 0


class _DaskShards32(_DaskShards, core.Samples32):
    _sums_type = core.WeightSums32

    def __init__(self, *args):
        core.Samples32.__init__(self)
        _DaskShards.__init__(self, *args)


class _DaskShards64(_DaskShards, core.Samples64):
    _sums_type = core.WeightSums64

    def __init__(self, *args):
        core.Samples64.__init__(self)
        _DaskShards.__init__(self, *args)


class DistributedTrainingState(TrainingState):
    """A ``TrainingState`` whose samples are held by Dask workers (see ``start_distributed``).
    ``block_seconds`` counts the blocks solved here (W, G); the V and U blocks run on the
    workers."""

    def __init__(self, trainer, model, shards):
        self.shards = shards
        self._begin(trainer, model, shards)

    @property
    def n_samples(self):
        return self.shards.n_samples()

    def train_accuracy(self):
        counts = self.shards.call("correct", dumps(self.model))
        if any(count is None for count in counts):
            return None
        return sum(counts) / self.n_samples

    def fingerprint(self):
        """SHA-256 of the training data, as one process computes it (each shard's rows are
        fetched in turn: computed once, when the run is first checkpointed)."""
        if self._fingerprint is None:
            parts = [self.shards.call("data", shards=[k])[0]
                     for k in range(len(self.shards.counts))]
            self._fingerprint = parts_fingerprint([X for X, _ in parts], [Y for _, Y in parts])
        return self._fingerprint

    def lifted(self):
        parts = self.shards.call("lifted")
        U = [np.concatenate([p[0][i] for p in parts], axis=1) for i in range(self.model.n_layers)]
        V = [np.concatenate([p[1][i] for p in parts], axis=1) for i in range(self.model.n_layers)]
        return U, V

    def extrapolation_state(self):
        """None: the point a Dask run's last sweep ended at stays on the workers, and a resumed
        run restarts Nesterov's t."""
        return None

    def restore(self, iteration, scheduled_tau, U, V, extrapolation=None):
        bounds = np.concatenate([[0], np.cumsum(self.shards.counts)])
        for k in range(len(self.shards.counts)):
            a, b = bounds[k], bounds[k + 1]
            self.shards.call("restore", [u[:, a:b] for u in U], [w[:, a:b] for w in V],
                             shards=[k])
        self._state.restore_schedule(iteration, scheduled_tau)
        self.iteration = iteration


def start_distributed(trainer, model, X, y, client):
    """``BCD.start`` with the samples split over the workers of ``client``."""
    distributed = import_distributed()
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        raise ValueError("the Dask cluster has no workers")
    placed = _place(model, X, y, client, workers)
    # The network (its architecture and training W, b) goes to every worker once.
    # hash=False: keys of this run's own, so that a run on the same data started just before
    # cannot release them under this one (its futures gone: "lost dependencies")
    network = client.scatter((dumps(model), [np.array(W) for W in model.weights],
                              [np.array(b) for b in model.biases]), broadcast=True, hash=False)
    futures = [client.submit(ShardActor, network, X_part, y_part,
                             trainer.n_threads, workers=[worker], actor=True,
                             allow_other_workers=False)
               for worker, X_part, y_part in placed]
    actors = [future.result() for future in futures]
    counts = [actor.n_samples().result() for actor in actors]
    cls = _DaskShards32 if model.dtype == np.float32 else _DaskShards64
    shards = cls(client, actors, [worker for worker, _, _ in placed], counts)
    return DistributedTrainingState(trainer, model, shards)


def _place(model, X, y, client, workers):
    """(worker, X part, y part) per shard, the parts as futures on that worker."""
    import dask.array as da

    if isinstance(X, da.Array):
        return _place_dask_array(X, y, client, workers)
    if isinstance(X, DataFiles):
        if y is not None:
            raise ValueError(f"with {type(X).__name__} as X, y must be None: the files hold y")
        bounds = _shard_bounds(X.n_samples(), len(workers))
        return [(worker, (X, bounds[k], bounds[k + 1]), None)
                for k, worker in enumerate(workers)]
    X = model.check_input(X)
    y = np.asarray(y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} samples")
    bounds = _shard_bounds(X.shape[0], len(workers))
    placed = []
    for k, worker in enumerate(workers):
        a, b = bounds[k], bounds[k + 1]
        X_part, y_part = client.scatter([X[a:b], y[a:b]], workers=[worker], direct=True,
                                        hash=False)
        placed.append((worker, X_part, y_part))
    return placed


def _shard_bounds(n_samples, n_workers):
    """Row bounds of n_workers contiguous shards of nearly equal size."""
    if n_samples < n_workers:
        raise ValueError(f"X has {n_samples} samples, fewer than the cluster's {n_workers} "
                         "workers")
    return np.linspace(0, n_samples, n_workers + 1).astype(int)


def _place_dask_array(X, y, client, workers):
    """One shard per worker holding chunks of X's rows (in row order), with y's rows."""
    import dask.array as da

    if X.ndim != 2 or len(X.chunks[1]) != 1:
        raise ValueError("a Dask array X must be 2-D and chunked along rows only")
    y = da.asarray(y).rechunk({0: X.chunks[0]})
    X_chunks = client.compute(list(X.to_delayed()[:, 0]))
    y_chunks = client.compute(list(y.to_delayed().reshape(len(X.chunks[0]), -1)[:, 0]))
    import_distributed().wait(X_chunks + y_chunks)
    holders = client.who_has(X_chunks)
    placed = []
    for X_chunk, y_chunk in zip(X_chunks, y_chunks):
        worker = sorted(holders[X_chunk.key])[0]
        if placed and placed[-1][0] == worker:
            placed[-1][1].append(X_chunk)
            placed[-1][2].append(y_chunk)
        else:
            placed.append((worker, [X_chunk], [y_chunk]))
    return placed
