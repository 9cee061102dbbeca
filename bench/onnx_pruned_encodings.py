"""How to store a pruned layer in ONNX: file size and ONNX Runtime latency of five encodings.

    python bench/onnx_pruned_encodings.py [THREADS]

LeNet-300-100 with W1, W2 pruned to 90 % (random weights, float32), each pruned layer as: a
dense initializer; an ONNX sparse initializer (int64 indices; ORT densifies it when loading);
int32 indices + ScatterElements into zeros; a bitmask (one bit per weight) + the non-zeros,
decoded by BitShift/BitwiseAnd/CumSum/Gather (``nnbcd.onnx_export`` writes the same with Mod
for BitwiseAnd, which needs opset 18); and a runtime
sparse product (ELL: per row its padded non-zeros, Gather/Mul/ReduceSum). Each with all of
ORT's graph optimisations (the decoders are constant-folded) and with none.
"""
import os
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import onnxruntime as ort

rng = np.random.default_rng(0)
sizes = [784, 300, 100, 10]
dtype = np.float32
W = []
for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
    w = rng.normal(size=(d_out, d_in)).astype(dtype)
    if i < 2:
        keep = np.argsort(-np.abs(w), axis=None)[: round(0.1 * w.size)]
        mask = np.zeros(w.size, bool); mask[keep] = True
        w = np.where(mask.reshape(w.shape), w, 0).astype(dtype)
    W.append(w)
b = [rng.normal(size=w.shape[0]).astype(dtype) for w in W]
T = TensorProto.FLOAT

def weightT_dense(i, nodes, inits):
    inits.append(numpy_helper.from_array(np.ascontiguousarray(W[i].T), f"W{i}"))
    return f"W{i}"

def weightT_sparse_init(i, nodes, inits, sparse):
    wt = np.ascontiguousarray(W[i].T)
    flat = np.flatnonzero(wt)
    values = numpy_helper.from_array(wt.ravel()[flat], f"W{i}")
    indices = numpy_helper.from_array(flat.astype(np.int64), f"W{i}_idx")
    sparse.append(helper.make_sparse_tensor(values, indices, wt.shape))
    return f"W{i}"

def weightT_scatter(i, nodes, inits):
    wt = np.ascontiguousarray(W[i].T)
    flat = np.flatnonzero(wt)
    inits += [numpy_helper.from_array(wt.ravel()[flat], f"v{i}"),
              numpy_helper.from_array(flat.astype(np.int32), f"idx{i}"),
              numpy_helper.from_array(np.array([wt.size], np.int64), f"n{i}"),
              numpy_helper.from_array(np.array(wt.shape, np.int64), f"s{i}")]
    nodes += [helper.make_node("ConstantOfShape", [f"n{i}"], [f"z{i}"], value=numpy_helper.from_array(np.zeros(1, dtype))),
              helper.make_node("ScatterElements", [f"z{i}", f"idx{i}", f"v{i}"], [f"f{i}"]),
              helper.make_node("Reshape", [f"f{i}", f"s{i}"], [f"W{i}"])]
    return f"W{i}"

def weightT_bitmask(i, nodes, inits):
    wt = np.ascontiguousarray(W[i].T)
    mask = wt != 0
    packed = np.packbits(mask.ravel())
    inits += [numpy_helper.from_array(packed, f"p{i}"),
              numpy_helper.from_array(np.arange(7, -1, -1, dtype=np.uint8), f"sh{i}"),
              numpy_helper.from_array(np.array([packed.size, 1], np.int64), f"ps{i}"),
              numpy_helper.from_array(np.array([mask.size], np.int64), f"n{i}"),
              numpy_helper.from_array(np.array([-1], np.int64), f"m1{i}"),
                            numpy_helper.from_array(np.array(wt.shape, np.int64), f"s{i}"),
              numpy_helper.from_array(np.array(1, np.uint8), f"one{i}")]
    nodes += [helper.make_node("Reshape", [f"p{i}", f"ps{i}"], [f"p2{i}"]),
              helper.make_node("BitShift", [f"p2{i}", f"sh{i}"], [f"bsh{i}"], direction="RIGHT"),
              helper.make_node("BitwiseAnd", [f"bsh{i}", f"one{i}"], [f"bits{i}"]),
              helper.make_node("Reshape", [f"bits{i}", f"m1{i}"], [f"bf{i}"]),
              helper.make_node("Slice", [f"bf{i}", f"zero{i}", f"n{i}"], [f"bs{i}"]),
              helper.make_node("Cast", [f"bs{i}"], [f"mi{i}"], to=TensorProto.INT32),
              helper.make_node("CumSum", [f"mi{i}", f"zero{i}"], [f"cs{i}"]),
              helper.make_node("Mul", [f"cs{i}", f"mi{i}"], [f"pos{i}"]),
              helper.make_node("Gather", [f"pv{i}", f"pos{i}"], [f"f{i}"]),
              helper.make_node("Reshape", [f"f{i}", f"s{i}"], [f"W{i}"])]
    inits.append(numpy_helper.from_array(np.concatenate([np.zeros(1, dtype), wt[mask]]), f"pv{i}"))
    inits.append(numpy_helper.from_array(np.array([0], np.int64), f"zero{i}"))
    return f"W{i}"

def weight_ell(i, x, nodes, inits):
    """Runtime sparse product: per output row, the padded list of its non-zeros (ELL)."""
    w = W[i]
    k = int((w != 0).sum(axis=1).max())
    cols = np.zeros((w.shape[0], k), np.int64); vals = np.zeros((w.shape[0], k), dtype)
    for r in range(w.shape[0]):
        nz = np.flatnonzero(w[r]); cols[r, :nz.size] = nz; vals[r, :nz.size] = w[r, nz]
    inits += [numpy_helper.from_array(cols.ravel().astype(np.int32), f"c{i}"), numpy_helper.from_array(vals, f"v{i}"),
              numpy_helper.from_array(np.array([0, w.shape[0], k], np.int64), f"s{i}"),
              numpy_helper.from_array(np.array([2], np.int64), f"ax{i}")]
    nodes += [helper.make_node("Gather", [x, f"c{i}"], [f"g{i}"], axis=1),
              helper.make_node("Reshape", [f"g{i}", f"s{i}"], [f"g3{i}"]),
              helper.make_node("Mul", [f"g3{i}", f"v{i}"], [f"m{i}"]),
              helper.make_node("ReduceSum", [f"m{i}", f"ax{i}"], [f"mm{i}"], keepdims=0)]
    return f"mm{i}"

def build(kind):
    nodes, inits, sparse = [], [], []
    x = "X"
    for i in range(3):
        if kind == "ell" and i < 2:
            y = weight_ell(i, x, nodes, inits)
        else:
            if i == 2 or kind == "dense":
                wname = weightT_dense(i, nodes, inits)
            elif kind == "sparse_initializer":
                wname = weightT_sparse_init(i, nodes, inits, sparse)
            elif kind == "scatter_int32":
                wname = weightT_scatter(i, nodes, inits)
            else:
                wname = weightT_bitmask(i, nodes, inits)
            nodes.append(helper.make_node("MatMul", [x, wname], [f"y{i}"])); y = f"y{i}"
        inits.append(numpy_helper.from_array(b[i], f"b{i}"))
        nodes.append(helper.make_node("Add", [y, f"b{i}"], [f"a{i}"]))
        if i < 2:
            nodes.append(helper.make_node("Relu", [f"a{i}"], [f"h{i}"])); x = f"h{i}"
    nodes.append(helper.make_node("Identity", ["a2"], ["Y"]))
    g = helper.make_graph(nodes, "lenet", [helper.make_tensor_value_info("X", T, [None, 784])],
                          [helper.make_tensor_value_info("Y", T, [None, 10])], initializer=inits,
                          sparse_initializer=sparse)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(m)
    return m

def reference(X):
    h = X
    for i in range(3):
        h = h @ W[i].T + b[i]
        if i < 2: h = np.maximum(h, 0)
    return h

def timeit(fn, seconds=0.5):
    fn(); n = 0; t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(); n += 1
    return (time.perf_counter() - t0) / n

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
print(f"LeNet-300-100, W1 W2 90 % pruned, float32, ORT {ort.__version__}, {threads} thread(s)")
print("| encoding | file bytes | session s | optimisation | batch 1 ms | batch 1000 ms | max err |")
print("|---|---|---|---|---|---|---|")
d = tempfile.mkdtemp()
for kind in ["dense", "sparse_initializer", "scatter_int32", "bitmask", "ell"]:
    m = build(kind)
    path = os.path.join(d, kind + ".onnx"); onnx.save(m, path)
    for level in [ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL]:
        so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
        so.graph_optimization_level = level
        t0 = time.perf_counter(); s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]); ts = time.perf_counter() - t0
        X1 = rng.normal(size=(1, 784)).astype(dtype); X1000 = rng.normal(size=(1000, 784)).astype(dtype)
        err = np.abs(s.run(None, {"X": X1000})[0] - reference(X1000)).max()
        t1 = timeit(lambda: s.run(None, {"X": X1})); t1000 = timeit(lambda: s.run(None, {"X": X1000}))
        print(f"| {kind} | {os.path.getsize(path)} | {ts:.3f} | {'all' if level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL else 'none'} | {t1*1e3:.3f} | {t1000*1e3:.2f} | {err:.1e} |")
