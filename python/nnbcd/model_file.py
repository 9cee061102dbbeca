"""Model files: the deployed network in safetensors, compressed layers in their compressed form.

Tensors (C order, in the model's dtype; CSR indices int64):

- ``layers.{i}.bias``: (rows_i,)
- dense layer: ``layers.{i}.weight``: W_i (rows_i, cols_i)
- pruned layer: G_i in CSR, ``layers.{i}.values`` (nnz,), ``layers.{i}.column_indices`` (nnz,),
  ``layers.{i}.row_offsets`` (rows_i + 1,)
- tensor-train layer: ``layers.{i}.core.{k}``: (r_{k−1}, n_k, r_k)

(rows_i, cols_i) is the shape of ``model.weights[i]``: for a ``ConvNet``'s convolution,
(filters, kernel² · channels). The metadata entry "nnbcd" holds JSON: the format and its
version, the library version, dtype, the architecture ("model", "sizes", "conv"), one
compression spec per layer, the initialisation, the training hyperparameters when the model was
trained, and "crc32": 8 hex digits, the CRC-32 of the whole file read with those digits as
"00000000" (so that a flipped byte anywhere is caught). Loading rebuilds the model and sets
W_i = G_i for compressed layers (training resumes from the deployed weights). The C++ reader is ``cpp/include/nnbcd/model_file.hpp``.
"""

import json
import os
import zlib

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from ._version import __version__
from .compression import Pruned, TensorTrain
from .memory import available_memory

FORMAT = "nnbcd.model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be read: truncated, corrupt, or inconsistent."""


# The model classes by the name the metadata records. mlp.py and convnet.py register theirs
# (``register``), so that this module, which they call to save, never imports them.
MODEL_CLASSES = {}


def register(cls):
    """Make ``cls`` (with ``_conv_metadata()`` and ``_from_metadata(meta, sizes, common)``)
    readable from model files whose metadata names it."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls


def _layer_spec(spec):
    if isinstance(spec, Pruned):
        return {"compression": "pruned", "sparsity": spec.sparsity, "scope": spec.scope}
    if isinstance(spec, TensorTrain):
        shape = spec.shape
        return {"compression": "tensor_train", "rank": spec.rank, "tol": spec.tol,
                "layout": spec.layout,
                "shape": None if shape is None else
                [list(shape[0]), list(shape[1])] if spec.layout == "matrix" else list(shape),
                "initial_rank": spec.initial_rank, "anneal_iterations": spec.anneal_iterations}
    return {"compression": "dense"}


def _metadata(model):
    conv = model._conv_metadata()
    return {"format": FORMAT, "version": VERSION, "library_version": __version__,
            "dtype": model.dtype.name, "model": type(model).__name__, "sizes": model.sizes,
            "conv": conv, "layers": [_layer_spec(s) for s in model.compression],
            "init": model.init, "init_scale": model.init_scale, "seed": model.seed,
            "training": getattr(model, "training_", None)}


def _tensors(model):
    tensors = {}
    cores = model.tt_cores
    for i, (spec, W, b) in enumerate(zip(model.compression, model.deployed_weights,
                                         model.biases)):
        tensors[f"layers.{i}.bias"] = np.ascontiguousarray(b)
        if isinstance(spec, TensorTrain):
            for k, core in enumerate(cores[i]):
                tensors[f"layers.{i}.core.{k}"] = core
        elif isinstance(spec, Pruned):
            rows, cols = np.nonzero(W)
            tensors[f"layers.{i}.values"] = np.ascontiguousarray(W[rows, cols])
            tensors[f"layers.{i}.column_indices"] = cols.astype(np.int64)
            tensors[f"layers.{i}.row_offsets"] = np.concatenate(
                [[0], np.cumsum(np.bincount(rows, minlength=W.shape[0]))]).astype(np.int64)
        else:
            tensors[f"layers.{i}.weight"] = np.ascontiguousarray(W)
    return tensors


def _data_start(data):
    return 8 + int.from_bytes(bytes(data[:8]), "little")


_CHECKSUM_KEY = b'\\"crc32\\": \\"'  # the key as it appears inside the header's JSON


def _checksum_position(data):
    """Where the 8 hex digits of the metadata's "crc32" start in the file."""
    end = min(_data_start(data), len(data))
    at = data.find(_CHECKSUM_KEY, 8, end)
    if at < 0 or data.find(_CHECKSUM_KEY, at + 1, end) >= 0:
        raise ModelFileError("the metadata has no single crc32 field")
    return at + len(_CHECKSUM_KEY)


def _checksum(data, at):
    """CRC-32 of the whole file with the checksum's own 8 digits read as "00000000"."""
    crc = zlib.crc32(b"00000000", zlib.crc32(data[:at]))
    return zlib.crc32(data[at + 8:], crc)


def dumps(model):
    """The model file's bytes (see ``save``)."""
    return encode(_metadata(model), _tensors(model))


def encode(meta, tensors):
    """safetensors bytes holding ``tensors`` and the JSON ``meta`` under the key "nnbcd", with
    its "crc32" set to the CRC-32 of the whole file."""
    meta = dict(meta, crc32="00000000")
    data = bytearray(save_tensors(tensors, metadata={"nnbcd": json.dumps(meta)}))
    at = _checksum_position(data)
    data[at:at + 8] = b"%08x" % _checksum(data, at)
    return bytes(data)


def write_atomic(data, path):
    """Write ``data`` to ``path`` so that a failed write leaves any existing file untouched."""
    temporary = f"{os.fspath(path)}.tmp-{os.getpid()}"
    try:
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def save(model, path):
    """Write ``model`` (an ``MLP`` or ``ConvNet``) to ``path`` as a safetensors model file,
    atomically: a failed write leaves any existing file untouched."""
    write_atomic(dumps(model), path)


def read(path):
    """The bytes of the file at ``path``; ``ModelFileError`` if it is a directory."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a directory, not a file") from None


def load(path):
    """The model stored at ``path`` by ``model.save``; ``ModelFileError`` if it is not a valid
    nnbcd model file."""
    return loads(read(path), source=os.fspath(path))


def decode(data, source):
    """(metadata, tensors) of a file written by ``encode``, its checksum verified."""
    data = bytes(data)
    try:
        tensors = load_tensors(data)
        header = json.loads(data[8:_data_start(data)])
        meta = json.loads(header.get("__metadata__", {}).get("nnbcd", "null"))
    except (SafetensorError, ValueError, TypeError, AttributeError) as e:
        raise ModelFileError(f"{source}: not a valid safetensors file ({e})") from None
    if isinstance(meta, dict):
        try:
            at = _checksum_position(data)
            stored = int(data[at:at + 8], 16)
        except (ModelFileError, ValueError):
            raise ModelFileError(f"{source}: the metadata has no valid crc32") from None
        if stored != _checksum(data, at):
            raise ModelFileError(f"{source}: the file does not match its checksum (it is "
                                 "corrupt)")
    return meta, tensors


def loads(data, source="model file"):
    """The model held by the bytes of a model file (see ``load``)."""
    meta, tensors = decode(data, source)
    try:
        return _rebuild(meta, tensors)
    except ModelFileError as e:
        raise ModelFileError(f"{source}: {e}") from None
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError, OverflowError) as e:
        raise ModelFileError(f"{source}: inconsistent model ({type(e).__name__}: {e})") from None


def _field(meta, key, kinds, where="metadata"):
    if key not in meta:
        raise ModelFileError(f"{where} has no {key!r}")
    value = meta[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ModelFileError(f"{where}: {key!r} has the wrong type ({value!r})")
    return value


def _spec(layer, i):
    where = f"metadata layers[{i}]"
    if not isinstance(layer, dict):
        raise ModelFileError(f"{where} is not an object")
    kind = _field(layer, "compression", str, where)
    if kind == "dense":
        return None
    if kind == "pruned":
        return Pruned(_field(layer, "sparsity", (int, float), where),
                      _field(layer, "scope", str, where))
    if kind == "tensor_train":
        return TensorTrain(_field(layer, "rank", int, where), layer.get("shape"),
                           _field(layer, "tol", (int, float), where),
                           _field(layer, "layout", str, where), layer.get("initial_rank"),
                           _field(layer, "anneal_iterations", int, where))
    raise ModelFileError(f"{where}: unknown compression {kind!r}")


def _weight_shapes(meta, sizes):
    """(rows, cols) of each layer's W, from the metadata alone."""
    shapes = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
    if meta["model"] == "ConvNet":
        conv = _field(meta, "conv", dict)
        channels = _field(conv, "input_shape", list, "metadata conv")[-1]
        kernel = _field(conv, "kernel", int, "metadata conv")
        shapes[0] = (_field(conv, "filters", int, "metadata conv"), kernel * kernel * channels)
    return shapes


def _rebuild(meta, tensors):

    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError("no nnbcd model metadata (not saved by nnbcd?)")
    version = _field(meta, "version", int)
    if version != VERSION:
        raise ModelFileError(f"format version {version} is not supported (this nnbcd reads "
                             f"version {VERSION})")
    kind = _field(meta, "model", str)
    if kind not in MODEL_CLASSES:
        raise ModelFileError(f"unknown model {kind!r}")
    dtype = _field(meta, "dtype", str)
    if dtype not in ("float32", "float64"):
        raise ModelFileError(f"dtype {dtype!r} is not float32 or float64")
    sizes = _field(meta, "sizes", list)
    layers = _field(meta, "layers", list)
    if (len(sizes) != len(layers) + 1 or len(sizes) < 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in sizes)):
        raise ModelFileError(f"sizes {sizes!r} must be {len(layers) + 1} positive widths, one "
                             "more than the layers")
    # Before allocating: the biases bound each layer's width by the file's size, and the dense
    # weights (W and G) must fit in memory, so that a header that lies allocates nothing.
    shapes = _weight_shapes(meta, sizes)
    for i, (rows, _) in enumerate(shapes):
        _tensor(tensors, f"layers.{i}.bias", (rows,), dtype)
    needed = 2 * np.dtype(dtype).itemsize * sum(rows * cols for rows, cols in shapes)
    available = available_memory()
    if available is not None and needed > available:
        raise ModelFileError(f"the network it describes needs {needed / 2**30:.1f} GiB; only "
                             f"{available / 2**30:.1f} GiB is available")
    specs = [_spec(layer, i) for i, layer in enumerate(layers)]
    common = dict(compression=specs, init=_field(meta, "init", str),
                  init_scale=_field(meta, "init_scale", (int, float)),
                  seed=_field(meta, "seed", int), dtype=dtype)
    model = MODEL_CLASSES[kind]._from_metadata(meta, sizes, common)
    if model.sizes != sizes:
        raise ModelFileError(f"sizes {sizes} do not match the convolution ({model.sizes})")
    used = {f"layers.{i}.bias" for i in range(model.n_layers)}
    for i, spec in enumerate(specs):
        used |= _restore_layer(model, i, spec, tensors)
    model._net.check_global_pruning()
    unexpected = sorted(set(tensors) - used)
    if unexpected:
        raise ModelFileError(f"unexpected tensors {unexpected}")
    for i, b in enumerate(model.biases):
        b[...] = tensors[f"layers.{i}.bias"]
    model.training_ = meta.get("training")
    return model


def _tensor(tensors, name, shape, dtype):
    if name not in tensors:
        raise ModelFileError(f"tensor {name} is missing")
    array = tensors[name]
    if array.dtype != dtype:
        raise ModelFileError(f"tensor {name} is {array.dtype}, expected {np.dtype(dtype)}")
    if shape is not None and array.shape != tuple(shape):
        raise ModelFileError(f"tensor {name} has shape {array.shape}, expected {tuple(shape)}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ModelFileError(f"tensor {name} contains NaN or infinity")
    return array


def _restore_layer(model, i, spec, tensors):
    """Sets layer i's deployed weights from the file; returns the tensor names it used."""
    rows, cols = model.weights[i].shape
    name = f"layers.{i}"
    if isinstance(spec, TensorTrain):
        count = sum(1 for key in tensors if key.startswith(f"{name}.core."))
        names = [f"{name}.core.{k}" for k in range(count)]
        cores = [_tensor(tensors, n, None, model.dtype) for n in names]
        model._net.restore_tensor_train(i, cores)
        return set(names)
    if isinstance(spec, Pruned):
        names = [f"{name}.values", f"{name}.column_indices", f"{name}.row_offsets"]
        values = _tensor(tensors, names[0], None, model.dtype)
        columns = _tensor(tensors, names[1], values.shape, np.int64)
        offsets = _tensor(tensors, names[2], (rows + 1,), np.int64)
        model._net.restore_pruned(i, values, columns, offsets)  # validates the CSR
        return set(names)
    model.weights[i][...] = _tensor(tensors, f"{name}.weight", (rows, cols), model.dtype)
    return {f"{name}.weight"}
