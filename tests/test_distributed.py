"""Data-parallel NN-BCD on a Dask LocalCluster of processes: the same iteration as one process.

The oracle is the single-process run on the same data: objective trajectory and final
weights to 1e-10 relative in float64, whatever the shards."""

import os
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import nnbcd  # noqa: E402
from nnbcd.data_files import CsvFile, MnistFiles, NpyFiles, NpzFile  # noqa: E402
from nnbcd.distributed import WorkerLostError  # noqa: E402

ITERATIONS = 20


def _cluster(n_workers):
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                       processes=True, dashboard_address=":0",
                                       worker_dashboard_address=":0")
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def client():
    cluster, client = _cluster(3)
    yield client
    client.close()
    cluster.close()


def _data(n=150, d=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1)
    return X, y % classes


def _images(n=90, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 7, 7, 1))
    return X, (X[:, 3, 3, 0] > 0).astype(int) + (X[:, 1, 1, 0] > 1)


NETWORKS = {
    "dense": lambda: nnbcd.MLP([12, 16, 10, 3], seed=3, dtype="float64"),
    "tt": lambda: nnbcd.MLP([12, 16, 16, 3], seed=3, dtype="float64",
                            compression=[None, nnbcd.TensorTrain(3, shape=(4, 4, 4, 4)), None]),
    "pruned-global": lambda: nnbcd.MLP([12, 16, 10, 3], seed=3, dtype="float64",
                                       compression=[nnbcd.Pruned(0.6, scope="global"),
                                                    nnbcd.Pruned(0.6, scope="global"), None]),
    "convnet": lambda: nnbcd.ConvNet((7, 7, 1), 4, 3, 2, (12,), 3, seed=3, dtype="float64"),
}


def _trainer():
    return nnbcd.BCD(tau=1.0, tau_growth=1.05, weight_decay=0.01, n_threads=1)


def _trajectory(history):
    return np.array([o["total"] for o in history.objective])


def _assert_same_run(history, model, reference_history, reference, rtol):
    np.testing.assert_allclose(_trajectory(history), _trajectory(reference_history), rtol=rtol)
    for W, W_ref in zip(model.weights, reference.weights):
        np.testing.assert_allclose(W, W_ref, rtol=rtol, atol=rtol * np.abs(W_ref).max())
    for b, b_ref in zip(model.biases, reference.biases):
        np.testing.assert_allclose(b, b_ref, rtol=rtol, atol=rtol * max(np.abs(b_ref).max(), 1))


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_same_iteration_as_one_process_with_uneven_shards(client, kind):
    X, y = _images() if kind == "convnet" else _data()
    reference = NETWORKS[kind]()
    reference_history = _trainer().fit(reference, X, y, ITERATIONS)
    model = NETWORKS[kind]()
    flat = X.reshape(len(X), -1)
    chunks = (len(X) // 5, len(X) // 3, len(X) - len(X) // 5 - len(X) // 3)  # uneven
    X_dask = da.from_array(flat, chunks=(chunks, flat.shape[1]))
    history = _trainer().fit(model, X_dask, y, ITERATIONS, client=client)
    _assert_same_run(history, model, reference_history, reference, 1e-10)
    assert history.train_accuracy[-1] == reference_history.train_accuracy[-1]


@pytest.mark.parametrize("kind", ["dense", "tt"])
def test_extrapolation_as_in_one_process(client, kind):
    X, y = _data()
    trainer = nnbcd.BCD(tau=1.0, tau_growth=1.0, weight_decay=0.01, extrapolation=True,
                        n_threads=1)
    reference = NETWORKS[kind]()
    reference_history = trainer.fit(reference, X, y, ITERATIONS)
    model = NETWORKS[kind]()
    history = trainer.fit(model, da.from_array(X, chunks=(50, X.shape[1])), y, ITERATIONS,
                          client=client)
    _assert_same_run(history, model, reference_history, reference, 1e-10)


def test_numpy_input_split_over_the_workers_in_float32(client):
    X, y = _data(n=200)
    reference = nnbcd.MLP([12, 16, 10, 3], seed=4, dtype="float32")
    reference_history = _trainer().fit(reference, X, y, ITERATIONS)
    model = nnbcd.MLP([12, 16, 10, 3], seed=4, dtype="float32")
    state = _trainer().start(model, X, y, client=client)
    assert state.shards.counts == [66, 67, 67]
    history = _trainer().fit(model, X, y, ITERATIONS, client=client)
    _assert_same_run(history, model, reference_history, reference, 2e-3)


def _idx(magic, array):
    header = np.array([magic, *array.shape], ">u4").tobytes()
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def _write_mnist(directory, n):
    """A tiny MNIST directory: n 4x3 training images, 2 test images."""
    rng = np.random.default_rng(5)
    images, labels = rng.integers(0, 256, (n, 4, 3)), rng.integers(0, 3, n)
    for stem, data in [("train-images-idx3-ubyte", _idx(2051, images)),
                       ("train-labels-idx1-ubyte", _idx(2049, labels)),
                       ("t10k-images-idx3-ubyte", _idx(2051, images[:2])),
                       ("t10k-labels-idx1-ubyte", _idx(2049, labels[:2]))]:
        (directory / stem).write_bytes(data)
    return (images.reshape(n, -1) / 255).astype(np.float32), labels


@pytest.mark.parametrize("kind", ["npy", "npz", "mnist", "csv"])
def test_files_read_by_each_worker(client, tmp_path, kind):
    if kind == "mnist":
        X, y = _write_mnist(tmp_path, 120)
        files = MnistFiles(tmp_path)
    else:
        X, y = _data(n=120)
        np.save(tmp_path / "X.npy", X)
        np.save(tmp_path / "y.npy", y)
        np.savez(tmp_path / "data.npz", X=X, y=y)
        table = np.column_stack([y, X])  # the labels first, named
        header = "label," + ",".join(f"x{k}" for k in range(X.shape[1]))
        np.savetxt(tmp_path / "data.csv", table, delimiter=",", header=header, comments="",
                   fmt=["%d"] + ["%.17g"] * X.shape[1])
        files = {"npy": NpyFiles(tmp_path / "X.npy", tmp_path / "y.npy"),
                 "npz": NpzFile(tmp_path / "data.npz"),
                 "csv": CsvFile(tmp_path / "data.csv", label_column="label")}[kind]
    sizes = [X.shape[1], 16, 10, 3]
    reference = nnbcd.MLP(sizes, seed=3, dtype="float64")
    reference_history = _trainer().fit(reference, X, y, ITERATIONS)
    model = nnbcd.MLP(sizes, seed=3, dtype="float64")
    history = _trainer().fit(model, files, None, ITERATIONS, client=client)
    _assert_same_run(history, model, reference_history, reference, 1e-10)
    with pytest.raises(ValueError, match="y must be None"):
        _trainer().start(model, files, y, client=client)


def test_validation_and_early_stopping_as_in_one_process(client):
    X, y = _data(n=180)
    runs = []
    for on_cluster in (False, True):
        model = NETWORKS["pruned-global"]()
        stop = nnbcd.EarlyStopping(patience=2)
        history = _trainer().fit(model, X[:120], y[:120], 60, validation=(X[120:], y[120:]),
                                 eval_every=2, callbacks=[stop],
                                 client=client if on_cluster else None)
        runs.append((history, stop, model))
    (history, stop, model), (reference_history, reference_stop, reference) = runs[1], runs[0]
    assert stop.stopped_iteration == reference_stop.stopped_iteration < 60
    assert stop.best_iteration == reference_stop.best_iteration
    assert history.validation_accuracy == reference_history.validation_accuracy
    assert history.train_accuracy == reference_history.train_accuracy
    for W, W_ref in zip(model.weights, reference.weights):
        np.testing.assert_allclose(W, W_ref, rtol=1e-10, atol=1e-12)


def _kill_worker_at(client, iteration):
    """A callback that kills one worker's process after ``iteration`` and waits until the
    scheduler has noticed; returns (callback, the worker's address)."""
    victim = sorted(client.scheduler_info()["workers"])[-1]

    def kill(state, history):
        if state.iteration != iteration:
            return
        try:
            client.run(os._exit, 1, workers=[victim])
        except Exception:  # the worker died before it could answer
            pass
        deadline = time.time() + 60
        while victim in client.scheduler_info()["workers"] and time.time() < deadline:
            time.sleep(0.1)

    return kill, victim


def test_a_lost_worker_is_named_and_the_model_keeps_the_last_iteration():
    X, y = _data()
    reference = NETWORKS["dense"]()
    _trainer().fit(reference, X, y, 3)
    cluster, client = _cluster(2)
    try:
        model = NETWORKS["dense"]()
        kill, victim = _kill_worker_at(client, 3)
        with pytest.raises(WorkerLostError, match=f"worker {victim} holding shard 1"):
            _trainer().fit(model, X, y, 10, callbacks=[kill], client=client)
    finally:
        client.close()
        cluster.close()
    for W, W_ref in zip(model.weights, reference.weights):
        np.testing.assert_allclose(W, W_ref, rtol=1e-10)


def test_checkpoint_kill_and_resume_on_a_cluster_of_another_size(tmp_path):
    X, y = _data()
    kind = "tt"
    reference = NETWORKS[kind]()
    reference_history = _trainer().fit(reference, X, y, ITERATIONS)
    path = tmp_path / "run.ckpt"
    cluster, client = _cluster(2)
    try:
        kill, _ = _kill_worker_at(client, 12)  # the checkpoint holds iteration 10
        with pytest.raises(WorkerLostError):
            _trainer().fit(NETWORKS[kind](), X, y, ITERATIONS, client=client, checkpoint=path,
                           checkpoint_every=5, callbacks=[kill])
    finally:
        client.close()
        cluster.close()
    cluster, client = _cluster(3)
    try:
        model = NETWORKS[kind]()
        history = _trainer().fit(model, X, y, ITERATIONS, client=client, checkpoint=path)
    finally:
        client.close()
        cluster.close()
    assert len(history.iteration) == ITERATIONS
    _assert_same_run(history, model, reference_history, reference, 1e-10)


def test_a_shard_too_large_for_its_worker_is_refused_before_allocating(client):
    X, y = _data(n=30, d=4)
    model = nnbcd.MLP([4, 100_000, 3], seed=0, dtype="float32")  # 2 d^2 alone: 80 GB
    with pytest.raises(MemoryError, match="worker tcp://.*GiB for the lifted variables"):
        nnbcd.BCD().start(model, X, y, client=client)


def test_bad_client_and_too_few_samples(client):
    X, y = _data(n=2)
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        nnbcd.BCD().start(nnbcd.MLP([12, 4, 3]), X, y, client="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="fewer than the cluster's 3 workers"):
        nnbcd.BCD().start(nnbcd.MLP([12, 4, 3]), X, y, client=client)
