"""ONNX export of a trained network (``MLP.to_onnx``, ``ConvNet.to_onnx``, ``nnbcd export``).

The graph is the deployed network's forward pass, ``decision_function``, with the compressed
structure kept (see the README's "Deploying to ONNX" for the figures behind each choice):

- a TT layer whose modes split into rows and columns ("tt_factors" in ``inference_plan``): two
  MatMuls with the thin factors, d_in × r then r × d_out, which constant nodes contract from
  the cores;
- a TT-matrix layer contracted core by core ("tt_cores"): per core a Reshape, a MatMul with the
  core and a Transpose, in the order of the C++ core's ``tt_matrix_apply``;
- any other TT layer ("dense"): a MatMul with G, contracted from the cores likewise; ONNX
  Runtime folds those constant nodes when the session is created, so the file holds only the
  cores;
- a pruned layer: its non-zeros and a bitmask of where they are (one bit per weight), decoded to
  the dense matrix by constant nodes that ONNX Runtime folds when the session is created, so the
  file holds only the non-zeros and the product is the dense MatMul it measured fastest;
- the ConvNet's convolution: an ONNX Conv (float32) on the flattened HWC images the network
  takes, reshaped and transposed to NCHW inside the graph; ONNX Runtime has no float64 Conv, so
  float64 networks gather the image patches (im2col, a constant index table) and multiply them
  by the filters, as the C++ core does.

Inputs and outputs have a dynamic batch dimension and the network's dtype (float32 or
float64). The default opset is ``OPSET``; any from ``MIN_OPSET`` up to what the installed onnx
knows works.
"""

import numpy as np

from ._version import __version__
from .compression import Pruned, TensorTrain

OPSET = 17
MIN_OPSET = 13  # the opset the graph's operators (CumSum, BitShift, Mod, Slice) all exist in
INSTALL_HINT = 'pip install "nnbcd[onnx]"'


class MissingDependencyError(ImportError):
    """An optional dependency of the ONNX export is not installed."""


def require(module, install_hint=INSTALL_HINT):
    """Import ``module``, or raise ``MissingDependencyError`` saying what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"the ONNX export needs the {module} package, which is not installed: "
            f"{install_hint}") from error


def check_opset(opset):
    """``opset`` as an int the export supports; ``ValueError`` naming the range otherwise."""
    onnx = require("onnx")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not (
            MIN_OPSET <= opset <= newest):
        raise ValueError(f"opset must be an int from {MIN_OPSET} to {newest} (the newest the "
                         f"installed onnx knows), got {opset!r}")
    return int(opset)


class GraphBuilder:
    """The nodes and initializers of one ONNX graph, each with a name of its own. The network's
    layers are written through ``constant`` and ``node`` only, so the skl2onnx converter can
    put the same layers into its own graph (``skl2onnx_converter``)."""

    def __init__(self):
        self.nodes, self.initializers = [], []
        self._counts = {}

    def unique(self, hint):
        """A name not used before in this graph, made from ``hint``."""
        count = self._counts.get(hint, 0)
        self._counts[hint] = count + 1
        return f"{hint}_{count}" if count else hint

    def constant(self, hint, array):
        """An initializer holding ``array``; returns its name."""
        name = self.unique(hint)
        self.initializers.append(require("onnx").numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op_type, inputs, hint, **attributes):
        """A node of ``op_type`` on the named ``inputs``; returns the name of its output."""
        output = self.unique(hint)
        self.nodes.append(require("onnx").helper.make_node(
            op_type, list(inputs), [output], name=self.unique(op_type), **attributes))
        return output


def _shape(builder, *dims):
    """A shape constant for Reshape (-1: the batch, whatever its size)."""
    return builder.constant("shape", np.array(dims, np.int64))


def _stored_weight(builder, matrix, pruned):
    """``matrix`` as a constant of the graph: plain, or, for a pruned layer where that is
    smaller, as its non-zeros and a bitmask that constant nodes decode (ONNX Runtime folds
    them into the dense matrix once, when the session is created)."""
    flat = matrix.ravel()
    mask = flat != 0
    if not pruned or mask.sum() * flat.itemsize + flat.size / 8 >= flat.nbytes:
        return builder.constant("weight", matrix)
    # the k-th non-zero (1-based) sits at the k-th set bit: a running count of the bits, times
    # the bit, indexes the non-zeros with a leading 0 for the zeros
    bytes_ = builder.constant("weight_mask", np.packbits(mask).reshape(-1, 1))
    shifts = builder.constant("bit_shifts", np.arange(7, -1, -1, dtype=np.uint8))
    bits = builder.node("BitShift", [bytes_, shifts], "weight_mask_bits", direction="RIGHT")
    bits = builder.node("Mod", [bits, builder.constant("two", np.array(2, np.uint8))],
                        "weight_mask_bits")
    bits = builder.node("Reshape", [bits, _shape(builder, -1)], "weight_mask_bits")
    bits = builder.node("Slice", [bits, builder.constant("start", np.array([0], np.int64)),
                                  builder.constant("end", np.array([flat.size], np.int64))],
                        "weight_mask_bits")
    bits = builder.node("Cast", [bits], "weight_mask_bits",
                        to=require("onnx").TensorProto.INT32)
    rank = builder.node("CumSum", [bits, builder.constant("axis", np.array(0, np.int64))],
                        "weight_nonzero_rank")
    index = builder.node("Mul", [rank, bits], "weight_nonzero_index")
    values = builder.constant("weight_nonzeros", np.concatenate([[0], flat[mask]]).astype(
        flat.dtype))
    dense = builder.node("Gather", [values, index], "weight_decoded")
    return builder.node("Reshape", [dense, _shape(builder, *matrix.shape)], "weight")


def _matmul(builder, h, matrix, pruned=False):
    """h @ matrix, the matrix a constant of the graph."""
    return builder.node("MatMul", [h, _stored_weight(builder, matrix, pruned)], "product")


def _core_chain(builder, cores):
    """The cores (r_0, n_1, r_1) ... (r_{k-1}, n_k, r_k) contracted by constant nodes (ONNX
    Runtime folds them when the session is created, so the file holds only the cores): a
    (r_0 n_1 ⋯ n_k) × r_k matrix."""
    chain = builder.constant("tt_core", cores[0].reshape(-1, cores[0].shape[2]))
    for core in cores[1:]:
        chain = builder.node("MatMul", [chain, builder.constant(
            "tt_core", core.reshape(core.shape[0], -1))], "tt_chain")
        chain = builder.node("Reshape", [chain, _shape(builder, -1, core.shape[2])], "tt_chain")
    return chain


def _transposed(builder, matrix, rows, cols):
    """The graph value ``matrix`` reshaped to rows × cols, transposed (for h @ Wᵀ)."""
    matrix = builder.node("Reshape", [matrix, _shape(builder, rows, cols)], "tt_weight")
    return builder.node("Transpose", [matrix], "tt_weight", perm=[1, 0])


def _tt_cores_product(builder, h, cores, row_modes, col_modes):
    """h Gᵀ for the TT-matrix G, core by core from the last, as the C++ core's tt_matrix_apply:
    the state is the row-major tensor (i_{k+1..d}, sample, j_1..j_k, a_k); contracting
    (j_k, a_k) with core k leaves (a_{k-1}, i_k) fastest, and a Transpose moves i_k first."""
    for core, m, c in reversed(list(zip(cores, row_modes, col_modes))):
        r_prev, _, r_next = core.shape
        kernel = core.reshape(r_prev, m, c, r_next).transpose(2, 3, 0, 1).reshape(
            c * r_next, r_prev * m)
        h = builder.node("Reshape", [h, _shape(builder, -1, c * r_next)], "tt_state")
        h = _matmul(builder, h, np.ascontiguousarray(kernel))
        h = builder.node("Reshape", [h, _shape(builder, -1, m)], "tt_state")
        h = builder.node("Transpose", [h], "tt_state", perm=[1, 0])
    h = builder.node("Reshape", [h, _shape(builder, int(np.prod(row_modes)), -1)], "tt_state")
    return builder.node("Transpose", [h], "tt_output", perm=[1, 0])


def _tt_weight(builder, cores, spec, d_out, d_in):
    """Gᵀ (d_in × d_out) from the cores: their chain is the tensor, which is G reshaped, or, for
    the TT-matrix layout, interleaved (i_1 j_1 ... i_d j_d), which a Transpose sorts into
    (i_1 ... i_d, j_1 ... j_d)."""
    tensor = _core_chain(builder, cores)
    if spec.layout == "matrix":
        rows, cols = spec.format_for(d_out, d_in)
        tensor = builder.node("Reshape", [tensor, _shape(builder, *(
            mode for pair in zip(rows, cols) for mode in pair))], "tt_tensor")
        tensor = builder.node("Transpose", [tensor], "tt_tensor",
                              perm=list(range(0, 2 * len(rows), 2)) + list(range(
                                  1, 2 * len(rows), 2)))
    return _transposed(builder, tensor, d_out, d_in)


def _layer_product(builder, h, model, i, plan):
    """h (batch × d_in) times layer i's deployed weights, transposed, in the form ``plan``
    (``inference_plan``) says."""
    spec = model.compression[i]
    d_out, d_in = model.weights[i].shape
    cores = model.tt_cores[i]
    if plan == "tt_factors":
        # G = left (d_out × r) · right (r × d_in), split where the leading modes make d_out
        split = int(np.flatnonzero(np.cumprod([c.shape[1] for c in cores]) == d_out)[0]) + 1
        rank = cores[split].shape[0]
        right = _transposed(builder, _core_chain(builder, cores[split:]), rank, d_in)
        left = _transposed(builder, _core_chain(builder, cores[:split]), d_out, rank)
        h = builder.node("MatMul", [h, right], "tt_inner")
        return builder.node("MatMul", [h, left], "product")
    if plan == "tt_cores":
        rows, cols = spec.format_for(d_out, d_in)
        return _tt_cores_product(builder, h, cores, rows, cols)
    if isinstance(spec, TensorTrain):
        return builder.node("MatMul", [h, _tt_weight(builder, cores, spec, d_out, d_in)],
                            "product")
    weights = model.deployed_weights[i]
    return _matmul(builder, h, np.ascontiguousarray(weights.T), isinstance(spec, Pruned))


def _convolution(builder, h, model):
    """The convolution and its bias (one per filter) on flattened HWC images (batch × H·W·C),
    its output the flattened HWC feature maps (batch × out_height·out_width·filters), as the
    C++ core's."""
    height, width, channels = model.input_shape
    out_height, out_width, filters = model.feature_map_shape
    k, stride = model.kernel, model.stride
    # the filters' rows are (ky, kx, c) flattened, as the patches are
    filters_hwc = model.deployed_weights[0].reshape(filters, k, k, channels)
    pruned = isinstance(model.compression[0], Pruned)
    if model.dtype == np.float32:
        images = builder.node("Reshape", [h, _shape(builder, -1, height, width, channels)],
                              "images")
        images = builder.node("Transpose", [images], "images_nchw", perm=[0, 3, 1, 2])
        kernel = _stored_weight(builder, np.ascontiguousarray(filters_hwc.transpose(0, 3, 1, 2)),
                                pruned)
        maps = builder.node("Conv", [images, kernel, builder.constant("bias", model.biases[0])],
                            "feature_maps", strides=[stride, stride])
        maps = builder.node("Transpose", [maps], "feature_maps_hwc", perm=[0, 2, 3, 1])
        return builder.node("Reshape", [maps, _shape(builder, -1, out_height * out_width *
                                                     filters)], "convolution")
    # float64: im2col, patch (oy, ox) of the image gathering ((oy s + ky) W + ox s + kx) C + c
    oy, ox, ky, kx, c = np.ix_(*(np.arange(n) for n in (out_height, out_width, k, k, channels)))
    index = ((oy * stride + ky) * width + ox * stride + kx) * channels + c
    patches = builder.node("Gather", [h, builder.constant("patch_index", index.reshape(
        out_height * out_width, -1))], "patches", axis=1)
    maps = _matmul(builder, patches, np.ascontiguousarray(filters_hwc.reshape(filters, -1).T),
                   pruned)
    maps = builder.node("Add", [maps, builder.constant("bias", model.biases[0])], "feature_maps")
    return builder.node("Reshape", [maps, _shape(builder, -1, out_height * out_width * filters)],
                        "convolution")


def network_nodes(model, builder, features):
    """Writes the network's forward pass on the graph value ``features`` (batch × d_0, the
    model's dtype) into ``builder``; returns the name of the outputs (batch × d_N), which are
    ``model.decision_function``'s."""
    h = features
    for i, plan in enumerate(model.inference_plan()):
        if i == 0 and hasattr(model, "feature_map_shape"):  # a ConvNet: no import of it here
            h = _convolution(builder, h, model)
        else:
            h = builder.node("Add", [_layer_product(builder, h, model, i, plan),
                                     builder.constant("bias", model.biases[i])], "pre_activation")
        if i + 1 < model.n_layers:
            h = builder.node("Relu", [h], "activation")
    return h


def to_model_proto(model, opset=OPSET):
    """The network as an ``onnx.ModelProto``: input "input" (batch × d_0), output "output"
    (batch × d_N), both of the network's dtype, the batch dimension dynamic."""
    onnx = require("onnx")
    opset = check_opset(opset)
    element_type = onnx.helper.np_dtype_to_tensor_dtype(model.dtype)
    builder = GraphBuilder()
    outputs = network_nodes(model, builder, "input")
    builder.nodes.append(onnx.helper.make_node("Identity", [outputs], ["output"]))
    graph = onnx.helper.make_graph(
        builder.nodes, "nnbcd",
        [onnx.helper.make_tensor_value_info("input", element_type, ["batch", model.sizes[0]])],
        [onnx.helper.make_tensor_value_info("output", element_type, ["batch", model.sizes[-1]])],
        initializer=builder.initializers, doc_string=repr(model))
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="nnbcd", producer_version=__version__)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save(model, path, opset=OPSET):
    """Write the network to ``path`` as an ONNX file (see ``to_model_proto``)."""
    require("onnx").save(to_model_proto(model, opset), str(path))
