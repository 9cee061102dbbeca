"""ONNX export: the file passes onnx.checker, ONNX Runtime's outputs are decision_function's
(1e-5 of the output scale in float32, 1e-10 in float64) and its labels predict's, for every kind
of layer, at batch sizes 1 and 1000; compressed layers stay compressed in the file; skl2onnx
converts pipelines ending in an nnbcd estimator; bad calls get clear errors."""

import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import skl2onnx
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nnbcd
from nnbcd import onnx_export, skl2onnx_converter

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


def session(model_bytes_or_path):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(model_bytes_or_path, options,
                                        providers=["CPUExecutionProvider"])


NETWORKS = {
    "dense": (lambda dtype: nnbcd.MLP([64, 32, 10], dtype=dtype), ["dense", "dense"]),
    "tt factors": (lambda dtype: nnbcd.MLP(
        [64, 64, 64, 10], compression=[nnbcd.TensorTrain(4), nnbcd.TensorTrain(4), None],
        dtype=dtype), ["tt_factors", "tt_factors", "dense"]),
    "tt cores": (lambda dtype: nnbcd.MLP(
        [64, 256, 256, 10], compression=[nnbcd.TensorTrain(2, layout="matrix")] * 2 + [None],
        dtype=dtype), ["dense", "tt_cores", "dense"]),
    "tt, contracted to G": (lambda dtype: nnbcd.MLP(  # no row/column split; cores not worth it
        [64, 64, 64, 10], compression=[nnbcd.TensorTrain(4, shape=(8, 16, 32)), nnbcd.TensorTrain(
            2, layout="matrix", shape=((4, 4, 4), (4, 4, 4))), None], dtype=dtype),
        ["dense", "dense", "dense"]),
    "pruned, layer scope": (lambda dtype: nnbcd.MLP(
        [64, 64, 32, 10], compression=[nnbcd.Pruned(0.8), nnbcd.Pruned(0.8), None],
        dtype=dtype), None),
    "pruned, global scope": (lambda dtype: nnbcd.MLP(
        [64, 64, 32, 10], compression=[nnbcd.Pruned(0.8, "global")] * 3, dtype=dtype), None),
    "tt convnet": (lambda dtype: nnbcd.ConvNet(
        (8, 8, 1), filters=4, kernel=3, stride=2, hidden=(64,), n_classes=10,
        compression=[None, nnbcd.TensorTrain(3), None], dtype=dtype),
        ["dense", "tt_factors", "dense"]),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(NETWORKS))
def test_onnx_runtime_reproduces_decision_function_and_predict(digits, tmp_path, kind, dtype):
    make, plan = NETWORKS[kind]
    X, y = digits
    model = make(dtype)
    nnbcd.BCD(n_threads=1).fit(model, X.astype(dtype), y, 3)
    assert plan is None or model.inference_plan() == plan
    path = tmp_path / "model.onnx"
    model.to_onnx(path)
    onnx.checker.check_model(str(path), full_check=True)
    run = session(str(path))
    (batch_input,), (batch_output,) = run.get_inputs(), run.get_outputs()
    assert batch_input.shape == ["batch", 64] and batch_output.shape == ["batch", 10]
    for n in (1, 1000):
        X_n = np.ascontiguousarray(np.resize(X, (n, 64)), dtype=dtype)
        expected = model.decision_function(X_n, n_threads=1)
        (outputs,) = run.run(None, {"input": X_n})
        assert outputs.dtype == dtype
        np.testing.assert_allclose(outputs, expected, rtol=0,
                                   atol=TOLERANCE[dtype] * np.abs(expected).max())
        np.testing.assert_array_equal(outputs.argmax(axis=1), model.predict(X_n, n_threads=1))


def weight_bytes(proto):
    return sum(len(t.raw_data) for t in proto.graph.initializer)


def test_compressed_layers_stay_compressed_in_the_file():
    pruned = nnbcd.MLP([300, 200, 10], compression=[nnbcd.Pruned(0.9), None])
    dense_bytes = 4 * (300 * 200 + 200 * 10 + 200 + 10)
    # the non-zeros and one bit per weight: 10 % + 1/32 of the pruned layer's dense bytes
    assert weight_bytes(onnx_export.to_model_proto(pruned)) < 0.2 * dense_bytes
    for spec in nnbcd.TensorTrain(4), nnbcd.TensorTrain(4, shape=(16, 64, 64)):  # factors, G
        tt = nnbcd.MLP([256, 256, 10], compression=[spec, None])
        assert weight_bytes(onnx_export.to_model_proto(tt)) < 0.1 * 4 * 256 * 256


def test_lowest_opset_runs(digits):
    X, _ = digits
    model = nnbcd.MLP([64, 32, 10], compression=[nnbcd.Pruned(0.5), None])
    proto = onnx_export.to_model_proto(model, opset=onnx_export.MIN_OPSET)
    (outputs,) = session(proto.SerializeToString()).run(None, {"input": X.astype(np.float32)})
    np.testing.assert_allclose(outputs, model.decision_function(X), atol=1e-5)


@pytest.mark.parametrize("opset", [onnx_export.MIN_OPSET - 1, 1000, 17.0, "17"])
def test_unsupported_opset_is_refused(opset):
    with pytest.raises(ValueError, match="opset must be an int from 13"):
        nnbcd.MLP([4, 2]).to_onnx("unused.onnx", opset=opset)


def test_missing_onnx_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "nnbcd\[onnx\]"'):
        nnbcd.MLP([4, 2]).to_onnx("unused.onnx")


def test_missing_skl2onnx_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(onnx_export.MissingDependencyError, match="skl2onnx"):
        skl2onnx_converter.register()


@pytest.fixture(scope="module")
def registered():
    skl2onnx_converter.register()


@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_skl2onnx_classifier_pipeline_gives_its_labels(digits, registered, labels, dtype):
    X, y = load_digits(return_X_y=True)
    y = np.array(list("abcdefghij"))[y] if labels == "str" else y
    pipeline = make_pipeline(StandardScaler(), nnbcd.NNBCDClassifier(
        (32,), max_iter=5, compression="prune", dtype=dtype, random_state=0, n_threads=1))
    pipeline.fit(X, y)
    onx = skl2onnx.to_onnx(pipeline, X[:1].astype(np.float32),
                           options={id(pipeline[-1]): {"zipmap": False}})
    run = session(onx.SerializeToString())
    assert [o.name for o in run.get_outputs()] == ["label", "probabilities"]
    label, scores = run.run(None, {run.get_inputs()[0].name: X.astype(np.float32)})
    np.testing.assert_array_equal(label, pipeline.predict(X))
    assert scores.shape == (len(X), 10) and scores.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(pipeline.classes_[scores.argmax(axis=1)], label)


def test_skl2onnx_classifier_zipmap_is_the_default(digits, registered):
    X, y = digits
    classifier = nnbcd.NNBCDClassifier((16,), max_iter=3, random_state=0, n_threads=1).fit(X, y)
    run = session(skl2onnx.to_onnx(classifier, X[:1].astype(np.float32)).SerializeToString())
    label, scores = run.run(None, {run.get_inputs()[0].name: X[:5].astype(np.float32)})
    np.testing.assert_array_equal(label, classifier.predict(X[:5]))
    assert sorted(scores[0]) == list(range(10))  # one dict of class -> score per sample


def test_skl2onnx_classifier_standardises_raw_features(registered):
    """The estimator's own standardisation is in the graph: raw pixels offset by 100."""
    X, y = load_digits(return_X_y=True)
    X = (X + 100.0).astype(np.float32)
    classifier = nnbcd.NNBCDClassifier((16,), max_iter=10, compression="prune", random_state=0,
                                       n_threads=1).fit(X, y)
    assert classifier.input_mean_.min() > 99
    run = session(skl2onnx.to_onnx(classifier, X[:1], options={
        id(classifier): {"zipmap": False}}).SerializeToString())
    label, scores = run.run(None, {run.get_inputs()[0].name: X})
    np.testing.assert_array_equal(label, classifier.predict(X))
    np.testing.assert_allclose(scores, classifier.decision_function(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("input_dtype", [np.float32, np.float64])
def test_skl2onnx_regressor_pipeline_gives_its_predictions(digits, registered, input_dtype):
    X, y = digits
    pipeline = make_pipeline(StandardScaler(), nnbcd.NNBCDRegressor(
        (16,), max_iter=5, compression="tt", tt_rank=2, random_state=0, n_threads=1))
    pipeline.fit(X, 10.0 * y + 3.0)
    run = session(skl2onnx.to_onnx(pipeline, X[:1].astype(input_dtype)).SerializeToString())
    (predictions,) = run.run(None, {run.get_inputs()[0].name: X.astype(input_dtype)})
    assert predictions.shape == (len(X), 1) and predictions.dtype == input_dtype
    expected = pipeline.predict(X)
    np.testing.assert_allclose(predictions.ravel(), expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("estimator", [nnbcd.NNBCDClassifier(), nnbcd.NNBCDRegressor()])
def test_skl2onnx_refuses_an_unfitted_estimator(digits, registered, estimator):
    X, _ = digits
    with pytest.raises(NotFittedError, match="fit"):
        skl2onnx.to_onnx(estimator, X[:1].astype(np.float32))


def test_skl2onnx_refuses_a_too_old_target_opset(digits, registered):
    X, y = digits
    classifier = nnbcd.NNBCDClassifier((16,), max_iter=2, random_state=0, n_threads=1).fit(X, y)
    with pytest.raises(ValueError, match="target_opset >= 13"):
        skl2onnx.to_onnx(classifier, X[:1].astype(np.float32), target_opset=12,
                         options={id(classifier): {"zipmap": False}})
