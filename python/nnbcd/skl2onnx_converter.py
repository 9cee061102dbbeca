"""skl2onnx converters for ``NNBCDClassifier`` and ``NNBCDRegressor``, so that
``skl2onnx.to_onnx`` converts pipelines that end in one::

    import nnbcd.skl2onnx_converter
    nnbcd.skl2onnx_converter.register()
    onx = skl2onnx.to_onnx(make_pipeline(PCA(20), NNBCDClassifier()).fit(X, y), X[:1])

Importing this module registers nothing: registration changes skl2onnx's global tables, so it
is one explicit call, ``register()`` (calling it again is harmless).

Outputs follow skl2onnx's conventions. The classifier has two: "label" (int64 for integer
labels, string for string labels) and "probabilities", which holds the network's scores
(batch × n_classes, one column per ``classes_`` entry, the largest the label): the network is
trained on one-hot targets with squared error, so, as for skl2onnx's LinearSVC, they are not
probabilities (there is no ``predict_proba``). skl2onnx's options ``zipmap`` (default True: a
list of dicts), ``output_class_labels`` and ``nocl`` (labels as class indices) apply;
``options={id(clf): {"zipmap": False}}`` gives the plain scores array, of the network's dtype
(float32 under a ZipMap, which takes nothing else). The regressor has one, "variable",
``predict``'s values as batch × n_outputs (2-D even for a 1-D y, as skl2onnx's regressors), of
the input's type. The network runs in its own dtype: the input is cast to it, as ``predict``
does.
"""

import numpy as np

from .classifier import NNBCDClassifier
from .onnx_export import MIN_OPSET, network_nodes, require
from .regressor import NNBCDRegressor

INSTALL_HINT = 'pip install "nnbcd[onnx]" skl2onnx'


class _ConverterBuilder:
    """``onnx_export.GraphBuilder``'s interface on skl2onnx's scope and container, so that the
    network's layers go into skl2onnx's graph."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def unique(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def constant(self, hint, array):
        array = np.asarray(array)
        name = self.unique(hint)
        tensor = require("onnx").numpy_helper.from_array(array)
        self.container.add_initializer(name, tensor.data_type, list(array.shape), tensor)
        return name

    def node(self, op_type, inputs, hint, **attributes):
        output = self.unique(hint)
        self.container.add_node(op_type, list(inputs), output,
                                name=self.scope.get_unique_operator_name(op_type), **attributes)
        return output


def _check_fitted(estimator):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_")  # NotFittedError: "... call 'fit' ..."


def _tensor_type(dtype):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    return DoubleTensorType if np.dtype(dtype) == np.float64 else FloatTensorType


def _dtype_of(variable):
    """float64 for a double tensor, else float32 (skl2onnx's regressors' convention)."""
    from skl2onnx.common.data_types import DoubleTensorType

    return np.dtype(np.float64 if isinstance(variable.type, DoubleTensorType) else np.float32)


def _network_outputs(builder, operator):
    """The fitted network's outputs on the operator's input, cast to the network's dtype."""
    if operator.target_opset < MIN_OPSET:
        raise ValueError(f"the nnbcd converters need target_opset >= {MIN_OPSET}, got "
                         f"{operator.target_opset}")
    model = operator.raw_operator.model_
    onnx = require("onnx")
    features = builder.node("Cast", [operator.inputs[0].full_name], "features",
                            to=onnx.helper.np_dtype_to_tensor_dtype(model.dtype))
    # (X - input_mean_) / input_scale_ in the network's dtype, as the estimator's predict
    estimator = operator.raw_operator
    centred = builder.node("Sub", [features, builder.constant(
        "input_mean", estimator.input_mean_.astype(model.dtype))], "centred")
    standardised = builder.node("Div", [centred, builder.constant(
        "input_scale", estimator.input_scale_.astype(model.dtype))], "standardised")
    return network_nodes(model, builder, standardised)


def _label_classes(scope, estimator):
    """The labels as skl2onnx's classifiers output them: ``classes_`` (or, with the option
    ``nocl``, their indices) as int64 or UTF-8 strings."""
    from skl2onnx.common.utils_classifier import get_label_classes

    classes = np.asarray(get_label_classes(scope, estimator))
    if classes.dtype.kind in "OUS":
        return np.array([str(c).encode("utf-8") for c in classes], dtype=object)
    if classes.dtype.kind == "f" and not np.array_equal(classes, np.round(classes)):
        raise ValueError("the ONNX label output is int64 or string: float class labels must be "
                         f"whole numbers, got {classes.tolist()}")
    return classes.astype(np.int64)


def _parse_classifier(scope, model, inputs, custom_parsers=None):
    # skl2onnx's classifier parser reads classes_ (for zipmap): check the fit first.
    from skl2onnx._parse import _parse_sklearn_classifier

    _check_fitted(model)
    return _parse_sklearn_classifier(scope, model, inputs, custom_parsers=custom_parsers)


def _scores_dtype(scope, estimator):
    """The network's dtype, but float32 under a ZipMap, which takes nothing else."""
    zipmap = scope.get_options(estimator, dict(zipmap=True))["zipmap"]
    return np.dtype(np.float32) if zipmap is not False else estimator.model_.dtype


def _classifier_shapes(operator):
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    estimator = operator.raw_operator
    _check_fitted(estimator)
    n = operator.inputs[0].get_first_dimension()
    string_labels = _label_classes(operator.scope_inst, estimator).dtype == object
    operator.outputs[0].type = (StringTensorType if string_labels else Int64TensorType)([n])
    operator.outputs[1].type = _tensor_type(_scores_dtype(operator.scope_inst, estimator))(
        [n, len(estimator.classes_)])


def _convert_classifier(scope, operator, container):
    builder = _ConverterBuilder(scope, container)
    scores = _network_outputs(builder, operator)
    onnx = require("onnx")
    container.add_node("Cast", [scores], operator.outputs[1].full_name,
                       name=scope.get_unique_operator_name("Cast"),
                       to=onnx.helper.np_dtype_to_tensor_dtype(
                           _scores_dtype(scope, operator.raw_operator)))
    best = builder.node("ArgMax", [scores], "best_class", axis=1, keepdims=0)
    classes = _label_classes(scope, operator.raw_operator)
    classes_name = builder.unique("classes")
    label_type = onnx.TensorProto.STRING if classes.dtype == object else onnx.TensorProto.INT64
    container.add_initializer(classes_name, label_type, [len(classes)], list(classes))
    container.add_node("Gather", [classes_name, best], operator.outputs[0].full_name,
                       name=scope.get_unique_operator_name("Gather"))


def _regressor_shapes(operator):
    estimator = operator.raw_operator
    _check_fitted(estimator)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _tensor_type(_dtype_of(operator.inputs[0]))(
        [n, estimator.n_outputs_])


def _convert_regressor(scope, operator, container):
    builder = _ConverterBuilder(scope, container)
    estimator = operator.raw_operator
    output_dtype = _dtype_of(operator.outputs[0])
    onnx = require("onnx")
    # predict: the standardised outputs back in y's units
    outputs = builder.node("Cast", [_network_outputs(builder, operator)], "outputs",
                           to=onnx.helper.np_dtype_to_tensor_dtype(output_dtype))
    scaled = builder.node("Mul", [outputs, builder.constant(
        "y_scale", estimator.y_scale_.astype(output_dtype))], "scaled")
    container.add_node("Add", [scaled, builder.constant("y_mean", estimator.y_mean_.astype(
        output_dtype))], operator.outputs[0].full_name, name=scope.get_unique_operator_name("Add"))


def register():
    """Register the converters of ``NNBCDClassifier`` (alias "NNBCDClassifier"; skl2onnx's
    classifier options ``zipmap``, ``output_class_labels`` and ``nocl``) and ``NNBCDRegressor``
    ("NNBCDRegressor") with skl2onnx. Needs skl2onnx: ``pip install "nnbcd[onnx]" skl2onnx``."""
    skl2onnx = require("skl2onnx", INSTALL_HINT)
    skl2onnx.update_registered_converter(
        NNBCDClassifier, "NNBCDClassifier", _classifier_shapes, _convert_classifier,
        parser=_parse_classifier,
        options={"zipmap": [True, False, "columns"], "output_class_labels": [False, True],
                 "nocl": [False, True]})
    skl2onnx.update_registered_converter(
        NNBCDRegressor, "NNBCDRegressor", _regressor_shapes, _convert_regressor)
