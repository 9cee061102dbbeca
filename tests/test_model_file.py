"""Model files: save -> load gives identical predictions for every kind of layer and dtype;
pickling goes through the same bytes; truncated, corrupted or lying files always raise
ModelFileError."""

import json
import pickle

import numpy as np
import pytest

import nnbcd
from nnbcd import model_file

MODELS = {
    "dense": lambda dtype: nnbcd.MLP([10, 12, 8, 3], seed=1, dtype=dtype),
    "tt reshape": lambda dtype: nnbcd.MLP(
        [16, 16, 8, 3], compression=[nnbcd.TensorTrain(3, shape=(4, 4, 4, 4)),
                                     nnbcd.TensorTrain(2), None], seed=1, dtype=dtype),
    "tt matrix": lambda dtype: nnbcd.MLP(
        [16, 12, 3], compression=[nnbcd.TensorTrain(2, layout="matrix"), None], seed=1,
        dtype=dtype),
    "pruned": lambda dtype: nnbcd.MLP(
        [10, 12, 8, 3], compression=[nnbcd.Pruned(0.7), nnbcd.Pruned(0.5, scope="global"),
                                     nnbcd.Pruned(0.5, scope="global")], seed=1, dtype=dtype),
    "convnet": lambda dtype: nnbcd.ConvNet(
        input_shape=(6, 6, 2), filters=3, kernel=3, stride=1, hidden=(16,), n_classes=3,
        compression=[nnbcd.Pruned(0.5), nnbcd.TensorTrain(3, shape=(4, 4, 4, 4, 3)), None],
        seed=1, dtype=dtype),
}


def _trained(kind, dtype):
    model = MODELS[kind](dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, model.sizes[0]))
    nnbcd.BCD().fit(model, X, np.arange(40) % 3, 3)
    return model, X


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_predicts_identically(kind, dtype, tmp_path):
    model, X = _trained(kind, dtype)
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = nnbcd.load(path)
    assert type(loaded) is type(model) and loaded.sizes == model.sizes
    assert loaded.dtype == model.dtype and loaded.compression == model.compression
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
    for a, b in zip(loaded.deployed_weights + loaded.biases,
                    model.deployed_weights + model.biases):
        np.testing.assert_array_equal(a, b)
    assert loaded.inference_plan() == model.inference_plan()
    assert loaded.parameter_count == model.parameter_count
    assert loaded.training_ == model.training_ and loaded.training_["iterations"] == 3


def test_compressed_layers_are_stored_compressed(tmp_path):
    model, _ = _trained("tt reshape", "float32")
    model.save(tmp_path / "m")
    from safetensors.numpy import load_file
    names = set(load_file(tmp_path / "m"))
    assert "layers.0.weight" not in names and "layers.0.core.0" in names
    model, _ = _trained("pruned", "float32")
    tensors = load_file(model.save(tmp_path / "p") or tmp_path / "p")
    assert len(tensors["layers.0.values"]) == np.count_nonzero(model.deployed_weights[0])


def test_loaded_model_resumes_training_from_the_deployed_weights(tmp_path):
    model, X = _trained("tt reshape", "float64")
    model.save(tmp_path / "m")
    loaded = nnbcd.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.weights[0], loaded.deployed_weights[0])
    history = nnbcd.BCD(tau_growth=1.0).fit(loaded, X, np.arange(40) % 3, 3)
    assert history.objective[-1]["total"] < history.objective[0]["total"]


def test_classifier_pickles_through_the_model_file(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = nnbcd.NNBCDClassifier(hidden_layer_sizes=(32,), compression="tt", tt_rank=4,
                                max_iter=5).fit(X_train, y_train)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict(X_test), clf.predict(X_test))
    np.testing.assert_array_equal(clone.decision_function(X_test), clf.decision_function(X_test))


@pytest.fixture(scope="module")
def saved():
    model, _ = _trained("convnet", "float32")
    return model_file.dumps(model)


def _header(data):
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + size]), data[8 + size:]


def _with_header(header, body):
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


def _rewrite_meta(data, change):
    header, body = _header(data)
    meta = json.loads(header["__metadata__"]["nnbcd"])
    change(meta)
    header["__metadata__"]["nnbcd"] = json.dumps(meta)
    return _with_header(header, body)


def test_every_truncation_is_refused(saved):
    for length in sorted(set(np.linspace(0, len(saved) - 1, 300).astype(int))):
        with pytest.raises(nnbcd.ModelFileError):
            model_file.loads(saved[:length])


def test_every_flipped_byte_is_refused(saved):
    rng = np.random.default_rng(0)
    positions = rng.choice(len(saved), 400, replace=False)
    for position in positions:
        corrupt = bytearray(saved)
        corrupt[position] ^= 1 << int(rng.integers(8))
        with pytest.raises(nnbcd.ModelFileError):
            model_file.loads(corrupt)


def _lying_headers(data):
    header, body = _header(data)
    name = "layers.1.core.2"

    def tensor(change):
        h = json.loads(json.dumps(header))
        change(h[name])
        return _with_header(h, body)

    yield "header length past the end", (2**40).to_bytes(8, "little") + data[8:]
    yield "header not JSON", _with_header({}, body)[:8] + b"{" * 40 + body
    yield "offsets past the end", tensor(lambda t: t.update(data_offsets=[0, 2**40]))
    yield "shape lies", tensor(lambda t: t.update(shape=[3, 4, 1000000]))
    yield "dtype lies", tensor(lambda t: t.update(dtype="F64"))
    yield "no metadata", _with_header({k: v for k, v in header.items() if k != "__metadata__"},
                                      body)
    yield "huge sizes", _rewrite_meta(data, lambda m: m.update(sizes=[72, 48, 10**6, 3]))
    yield "huge TT network", _rewrite_meta(data, lambda m: m["layers"][1].update(shape=[10**5] * 3))
    yield "sizes not ints", _rewrite_meta(data, lambda m: m.update(sizes=["72", 48, 16, 3]))
    yield "unknown compression", _rewrite_meta(
        data, lambda m: m["layers"][0].update(compression="zip"))
    yield "rank below the cores'", _rewrite_meta(data, lambda m: m["layers"][1].update(rank=1))
    yield "wrong format version", _rewrite_meta(data, lambda m: m.update(version=2))
    yield "unknown model", _rewrite_meta(data, lambda m: m.update(model="Transformer"))
    yield "checksum", _rewrite_meta(data, lambda m: m.update(crc32="0badc0de"))


METADATA_LIES = ["huge sizes", "huge TT network", "sizes not ints", "unknown compression",
                 "rank below the cores'", "wrong format version", "unknown model"]
STRUCTURE_LIES = ["header length past the end", "header not JSON", "offsets past the end",
                  "shape lies", "dtype lies", "no metadata", "checksum"]


@pytest.mark.parametrize("case", METADATA_LIES + STRUCTURE_LIES)
def test_lying_headers_are_refused(saved, case):
    data = dict(_lying_headers(saved))[case]
    if case in METADATA_LIES:  # keep the checksum right, so that the metadata check is what fails
        data = bytearray(data)
        at = model_file._checksum_position(data)
        data[at:at + 8] = b"%08x" % model_file._checksum(data, at)
    with pytest.raises(nnbcd.ModelFileError):
        model_file.loads(data)


def _dense_csr(tensors, layer, shape):
    rows, cols = shape
    tensors[f"layers.{layer}.values"] = np.ones(rows * cols, np.float32)
    tensors[f"layers.{layer}.column_indices"] = np.tile(np.arange(cols), rows).astype(np.int64)
    tensors[f"layers.{layer}.row_offsets"] = (np.arange(rows + 1) * cols).astype(np.int64)


def _first_row_with_two(tensors):
    offsets = tensors["layers.0.row_offsets"]
    return int(offsets[np.flatnonzero(np.diff(offsets) >= 2)[0]])


CSR_LIES = {
    "columns not increasing": lambda t: t["layers.0.column_indices"].__setitem__(
        slice(_first_row_with_two(t), _first_row_with_two(t) + 2),
        t["layers.0.column_indices"][_first_row_with_two(t):_first_row_with_two(t) + 2][::-1]),
    "offsets past the entries": lambda t: t["layers.0.row_offsets"].__setitem__(1, 10**6),
    "column out of range": lambda t: t["layers.0.column_indices"].__setitem__(0, 10),
    "column beyond int32": lambda t: t["layers.0.column_indices"].__setitem__(0, 2**33),
    "layer sparsity exceeded": lambda t: _dense_csr(t, 0, (12, 10)),
    "global sparsity exceeded": lambda t: _dense_csr(t, 1, (8, 12)),
}


@pytest.mark.parametrize("case", sorted(CSR_LIES))
def test_invalid_pruned_layers_are_refused(case):
    from safetensors.numpy import load, save

    data = model_file.dumps(_trained("pruned", "float32")[0])
    header, _ = _header(data)
    tensors = {k: v.copy() for k, v in load(data).items()}
    CSR_LIES[case](tensors)
    data = bytearray(save(tensors, metadata=header["__metadata__"]))
    at = model_file._checksum_position(data)  # a consistent file that lies about its CSR
    data[at:at + 8] = b"%08x" % model_file._checksum(data, at)
    with pytest.raises(nnbcd.ModelFileError):
        model_file.loads(data)


def test_a_network_too_large_for_memory_is_refused_before_allocating(saved, monkeypatch):
    monkeypatch.setattr(model_file, "available_memory", lambda: 1000)
    with pytest.raises(nnbcd.ModelFileError, match="GiB; only"):
        model_file.loads(saved)


def test_files_that_are_not_models(tmp_path):
    from safetensors.numpy import save_file
    save_file({"x": np.zeros(3, np.float32)}, tmp_path / "other")
    with pytest.raises(nnbcd.ModelFileError, match="no nnbcd model metadata"):
        nnbcd.load(tmp_path / "other")
    with pytest.raises(nnbcd.ModelFileError, match="directory"):
        nnbcd.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        nnbcd.load(tmp_path / "missing")


def test_save_is_atomic(tmp_path):
    model, _ = _trained("dense", "float32")
    path = tmp_path / "m"
    model.save(path)
    before = path.read_bytes()
    with pytest.raises(OSError):
        model.save(tmp_path / "no-such-dir" / "m")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    assert nnbcd.__version__ == version("nnbcd")
