"""A fully connected ReLU network whose parameters live in the C++ core."""

import copy

import numpy as np

from . import _validation as v
from ._native import core
from .compression import Pruned, TensorTrain
from .memory import lifted_bytes
from .model_file import dumps, loads, register, save

INITS = ("kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "normal")


def check_init(init):
    """``init`` if it is one of ``INITS``; else ValueError naming it."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return init


def _init_weight(rng, init, d_out, d_in, scale, dtype):
    if init == "normal":  # N(0, scale²) whatever the fan-in: the authors' notebooks' 0.01·N(0, 1)
        std = scale
    else:
        fan = d_in if init.startswith("kaiming") else (d_in + d_out) / 2
        gain = 2.0 if init.startswith("kaiming") else 1.0  # He et al.: ReLU halves the variance
        std = scale * np.sqrt(gain / fan)
    if init.endswith("normal"):
        return rng.normal(0.0, std, size=(d_out, d_in)).astype(dtype)
    bound = np.sqrt(3.0) * std  # uniform on [-bound, bound] has this standard deviation
    return rng.uniform(-bound, bound, size=(d_out, d_in)).astype(dtype)


def check_sizes(sizes):
    """``sizes`` as a list of at least two positive layer widths."""
    try:
        sizes = [int(s) for s in sizes]
    except (TypeError, ValueError):
        raise TypeError(f"sizes must be a sequence of layer widths, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least two widths (input, output), got {sizes!r}")
    if min(sizes) < 1:
        raise ValueError(f"every width in sizes must be >= 1, got {sizes!r}")
    return sizes


def check_compression(compression, n_layers):
    """Per-layer compression specs: None (dense), ``nnbcd.Pruned`` or ``nnbcd.TensorTrain``."""
    if compression is None:
        return [None] * n_layers
    specs = list(compression) if isinstance(compression, (list, tuple)) else None
    if specs is None or len(specs) != n_layers:
        raise ValueError(
            f"compression must be None or a list with one entry per layer ({n_layers}), "
            f"got {compression!r}"
        )
    for i, spec in enumerate(specs):
        if spec is not None and not isinstance(spec, (Pruned, TensorTrain)):
            raise ValueError(f"compression[{i}]: unknown compression spec {spec!r}; "
                             "use None, nnbcd.Pruned(...) or nnbcd.TensorTrain(...)")
    global_sparsities = {s.sparsity for s in specs if isinstance(s, Pruned) and s.scope == "global"}
    if len(global_sparsities) > 1:
        raise ValueError("layers pruned with scope='global' must share one sparsity, got "
                         f"{sorted(global_sparsities)}")
    return specs


def _live_units(nonzero):
    """Masks of live units per layer, from each layer's connectivity (d_out, d_in) boolean
    matrix. A hidden unit is dead when no non-zero weight from a live unit comes in, or none
    goes out to a live unit. Repeated until nothing changes (biases ignored)."""
    alive = [np.ones(W.shape[1], bool) for W in nonzero] + [np.ones(nonzero[-1].shape[0], bool)]
    changed = True
    while changed:
        changed = False
        for h in range(1, len(nonzero)):  # hidden unit layers sit between matrices h-1 and h
            fed = nonzero[h - 1][:, alive[h - 1]].any(axis=1)
            read = nonzero[h][alive[h + 1], :].any(axis=0)
            now = alive[h] & fed & read
            if (now != alive[h]).any():
                alive[h], changed = now, True
    return alive


@register
class MLP:
    """A ReLU network with layer widths ``sizes`` = (d_0, ..., d_N); the output layer is linear.

    Parameters
    ----------
    sizes : sequence of int
        Input width first, output width last.
    compression : None or list
        One spec per layer: None (dense), ``nnbcd.Pruned`` or ``nnbcd.TensorTrain``.
    init : {"kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "normal"}
        Weight initialisation; biases start at zero.
    init_scale : float
        Multiplies the initial weights' standard deviation; for ``"normal"`` it *is* the
        standard deviation (``init="normal", init_scale=0.01``: the notebooks' 0.01·N(0, 1)).
    seed : int
        Seed of the initialisation: the same seed gives the same network.
    dtype : {"float32", "float64"}
    """

    def __init__(self, sizes, compression=None, init="kaiming_normal", init_scale=1.0, seed=0,
                 dtype="float32"):
        self._build(check_sizes(sizes), compression, init, init_scale, seed, dtype)

    def _build(self, sizes, compression, init, init_scale, seed, dtype, conv=None):
        """The C++ network (with ``conv``, a core.ConvGeometry, as its first layer), initialised
        and compressed."""
        self.sizes = sizes
        self.compression = check_compression(compression, len(self.sizes) - 1)
        self.init = check_init(init)
        self.init_scale = v.check_positive("init_scale", init_scale)
        self.seed = v.check_int("seed", seed, 0)
        self.dtype = np.dtype(v.check_dtype(dtype))
        self.training_ = None  # the hyperparameters of the last BCD run, set by BCD
        network = core.Mlp32 if self.dtype == np.float32 else core.Mlp64
        self._net = network(self.sizes) if conv is None else network(self.sizes, conv)
        rng = np.random.default_rng(self.seed)
        for W in self.weights:
            W[...] = _init_weight(rng, init, *W.shape, self.init_scale, self.dtype)
        for i, spec in enumerate(self.compression):
            if isinstance(spec, Pruned):
                self._net.set_pruning(i, spec.sparsity, spec.scope == "global")
            elif isinstance(spec, TensorTrain):
                self._set_tensor_train(i, spec)

    def _set_tensor_train(self, i, spec):
        d_out, d_in = self.weights[i].shape
        try:
            shape = spec.format_for(d_out, d_in)
        except ValueError as e:
            raise ValueError(f"compression[{i}]: {e}") from None
        matrix = spec.layout == "matrix"
        self._net.set_tensor_train(
            i, matrix, [] if matrix else list(shape), list(shape[0]) if matrix else [],
            list(shape[1]) if matrix else [], spec.rank, spec.tol, spec.initial_rank or 0,
            spec.anneal_iterations if spec.initial_rank else 0)

    @property
    def n_layers(self):
        """Number of weight layers (len(sizes) - 1)."""
        return len(self.sizes) - 1

    @property
    def weights(self):
        """The weight matrices W_i, each (d_out, d_in): writable views of the model's storage."""
        return [self._net.weight(i) for i in range(self.n_layers)]

    @property
    def biases(self):
        """The bias vectors b_i, each (d_out,): writable views of the model's storage."""
        return [self._net.bias(i) for i in range(self.n_layers)]

    @property
    def compressed_weights(self):
        """G_i of each compressed layer (None for dense layers): writable views."""
        return [None if spec is None else self._net.compressed_weight(i)
                for i, spec in enumerate(self.compression)]

    @property
    def deployed_weights(self):
        """The weights inference uses: G_i for compressed layers, W_i otherwise."""
        return [W if G is None else G for W, G in zip(self.weights, self.compressed_weights)]

    @property
    def tt_cores(self):
        """Per layer, the cores (r_{k−1}, n_k, r_k) of G_i's tensor train (copies; None for
        layers that are not TT-compressed). ``tensorly.tt_to_tensor`` accepts them; for the
        reshape layout ``tt_to_tensor(cores).reshape(d_out, d_in)`` is G_i."""
        return [self._net.tt_cores(i) if isinstance(spec, TensorTrain) else None
                for i, spec in enumerate(self.compression)]

    @property
    def tt_ranks(self):
        """Per layer, the TT ranks (r_0, ..., r_d) G_i has now (None for other layers)."""
        return [None if cores is None else [1] + [c.shape[2] for c in cores]
                for cores in self.tt_cores]

    def inference_plan(self):
        """Per layer, how ``decision_function`` multiplies a batch, of any size (so that a
        sample's output does not depend on the batch it comes in): "sparse" (pruned layer, CSR
        product, where that was measured faster than the GEMM), "tt_factors" (TT layer whose
        modes split into rows and columns: two thin factors), "tt_cores" (TT-matrix layout,
        contracted core by core), or "dense" (GEMM with G_i, or W_i for dense layers),
        whichever does less work."""
        return [self._net.product(i) for i in range(self.n_layers)]

    def project(self):
        """Recompute every G_i from W_i (after editing ``weights`` by hand)."""
        self._net.project()

    def _stored_weights(self, i):
        spec = self.compression[i]
        if isinstance(spec, TensorTrain):
            return sum(c.size for c in self._net.tt_cores(i))
        if isinstance(spec, Pruned):
            return int(np.count_nonzero(self._net.compressed_weight(i)))
        return self.weights[i].size

    @property
    def parameter_count(self):
        """Parameters the deployed network stores: the TT cores of TT layers, the non-zeros of
        pruned layers, all the entries of dense ones, and the biases."""
        return sum(self._stored_weights(i) + b.size for i, b in enumerate(self.biases))

    @property
    def dense_parameter_count(self):
        """Parameters of the same network uncompressed: every weight and bias."""
        return sum(W.size + b.size for W, b in zip(self.weights, self.biases))

    @property
    def compression_ratio(self):
        """Stored parameters / dense parameters of the whole network (the paper's CR;
        smaller is more compression)."""
        return self.parameter_count / self.dense_parameter_count

    @property
    def layer_parameter_counts(self):
        """Per layer, (stored, dense) parameters, biases included: the TT cores, the non-zeros
        of a pruned layer, or every weight of a dense one, against every weight."""
        return [(self._stored_weights(i) + b.size, W.size + b.size)
                for i, (W, b) in enumerate(zip(self.weights, self.biases))]

    @property
    def layer_compression_ratios(self):
        """Per layer: (stored weights + biases) / (dense weights + biases)."""
        return [stored / dense for stored, dense in self.layer_parameter_counts]

    def _pruned_layers(self):
        return [i for i, spec in enumerate(self.compression) if isinstance(spec, Pruned)]

    @property
    def sparsity(self):
        """Zeros / weights of the deployed pruned layers (0.0 without pruned layers)."""
        layers = self._pruned_layers()
        if not layers:
            return 0.0
        deployed = self.deployed_weights
        zeros = sum(deployed[i].size - np.count_nonzero(deployed[i]) for i in layers)
        return zeros / sum(deployed[i].size for i in layers)

    @property
    def effective_sparsity(self):
        """Like ``sparsity``, also counting the weights of the pruned layers that touch a dead
        hidden unit: one that no non-zero weight from a live unit reaches, or that feeds no live
        unit (found by repeating both tests until nothing changes; biases are ignored)."""
        layers = self._pruned_layers()
        if not layers:
            return 0.0
        deployed = self.deployed_weights
        alive = _live_units(self._connectivity(deployed))
        dead = sum(W.size - np.count_nonzero(self._live_weights(i, W, alive))
                   for i, W in enumerate(deployed) if i in layers)
        return dead / sum(deployed[i].size for i in layers)

    def _connectivity(self, deployed):
        """Per layer, which output unit each input unit reaches, (d_out, d_in) booleans."""
        return [W != 0 for W in deployed]

    def _live_weights(self, i, W, alive):
        """The non-zero weights of layer i between live units."""
        return (W != 0) & alive[i + 1][:, None] & alive[i][None, :]

    def training_bytes(self, n_samples):
        """Memory one BCD run allocates to train on ``n_samples`` samples (see
        ``nnbcd.memory.lifted_bytes``; a weight-decay trial holds two runs)."""
        return lifted_bytes(self.sizes, n_samples, self.dtype)

    def check_input(self, X, name="X"):
        """``X`` as a finite C-contiguous (n_samples, d_0) array of the model's dtype;
        ``ValueError`` naming ``name`` otherwise."""
        X = v.check_data(name, X, self.dtype, 2)
        if X.shape[1] != self.sizes[0]:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but the network expects {self.sizes[0]}"
            )
        return X

    def decision_function(self, X, n_threads=0):
        """Network outputs for X (n_samples, d_0) with the deployed weights: (n_samples, d_N)."""
        X = self.check_input(X)
        return self._net.forward(X.T, v.check_threads(n_threads)).T

    def predict(self, X, n_threads=0):
        """Index of the largest output for each sample."""
        return np.argmax(self.decision_function(X, n_threads), axis=1)

    def copy(self):
        """An independent copy of this network in its current state: the training weights W_i
        of compressed layers too, which a model file (and so ``pickle``) does not keep."""
        twin = object.__new__(type(self))  # not copy.copy: it would go through __reduce__
        twin.__dict__.update(self.__dict__)
        twin._net = self._net.copy()
        twin.training_ = copy.deepcopy(self.training_)
        return twin

    def save(self, path):
        """Write the deployed network to ``path``: a safetensors file holding compressed layers
        in their compressed form (TT cores, CSR), the biases, and JSON metadata (architecture,
        compression, dtype, library version, training hyperparameters). ``nnbcd.load(path)``
        reads it back, as does the C++ ``nnbcd::load_model``. See ``nnbcd.model_file``."""
        save(self, path)

    def to_onnx(self, path, opset=None):
        """Write the deployed network to ``path`` as an ONNX file whose output is
        ``decision_function``'s: input "input" (batch × d_0; a ConvNet's images flattened HWC,
        as ``decision_function`` takes them), output "output" (batch × d_N), both of the
        network's dtype, the batch dimension dynamic. Compressed layers stay compressed: TT
        factors or cores, pruned weights as their non-zeros and a bitmask (see
        ``nnbcd.onnx_export``). ``opset``: the ONNX opset, default 17 (``onnx_export.OPSET``).
        Needs the onnx package: ``pip install "nnbcd[onnx]"``."""
        from . import onnx_export

        onnx_export.save(self, path, onnx_export.OPSET if opset is None else opset)

    def __reduce__(self):
        # Pickled through the model file's bytes: the C++ network itself cannot be pickled.
        return loads, (dumps(self),)

    def _conv_metadata(self):
        """The model file's record of the convolutional first layer (none here)."""
        return None

    @classmethod
    def _from_metadata(cls, meta, sizes, common):
        """The network a model file's metadata describes, before its tensors are restored."""
        return cls(sizes, **common)

    def __repr__(self):
        return f"MLP(sizes={self.sizes}, dtype={self.dtype.name!r})"
