"""The command line: ``nnbcd train`` on every kind of data writes the model, the history and its
plot, ``evaluate`` repeats the accuracy ``train`` printed, ``info`` reports the compression, and
every bad argument or input is one line ``nnbcd: error: ...`` with a non-zero exit status."""

import csv
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import nnbcd
from nnbcd import cli

ACCURACY = re.compile(r"test accuracy (\d\.\d{4} \((\d+)/(\d+)\))")
SMALL = ["--hidden", "64", "--threads", "1", "--quiet"]


def run(capsys, *argv):
    """``nnbcd argv`` in-process: (exit status, stdout, stderr)."""
    status = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def accuracy_of(out):
    """The "A (correct/n)" of the accuracy line."""
    match = ACCURACY.search(out)
    assert match, out
    return match.group(1)


def train_and_evaluate(capsys, tmp_path, data, *options):
    """Train on ``data``, check that ``evaluate`` prints the same accuracy; returns the
    accuracy printed and the saved model."""
    status, out, err = run(capsys, "train", "--data", data, "--output", tmp_path / "run",
                           *SMALL, *options)
    assert status == 0, err
    model_file = tmp_path / "run" / "model.safetensors"
    status, evaluated, err = run(capsys, "evaluate", model_file, data, "--threads", "1")
    assert status == 0, err
    assert accuracy_of(evaluated) == accuracy_of(out)
    return accuracy_of(out), nnbcd.load(model_file)


def test_train_without_options_trains_a_compressed_network(capsys, tmp_path):
    """The main job: two tensor-train hidden layers (nnbcd.recipes' settings), the compression
    ratio printed beside the accuracy; digits' TT target over three seeds."""
    status, out, err = run(capsys, "train", "--output", tmp_path, "--threads", 1, "--quiet")
    assert status == 0, err
    model = nnbcd.load(tmp_path / "model.safetensors")
    assert model.sizes == [64, 256, 256, 10]
    assert model.compression == [nnbcd.TensorTrain(8), nnbcd.TensorTrain(8), None]
    assert model.training_["weight_decay"] == pytest.approx(0.0003 * 1347)  # per sample
    # digits' TT network keeps its weight decay after the trial (bench/results/
    # weight_decay_switch.md: the run without it underfits)
    assert model.training_["weight_decay_trial"] == 100
    assert model.training_["weight_decay_trial_result"]["kept"] == "with weight decay"
    assert f"compression ratio {model.compression_ratio:.4g}" in out
    assert model.compression_ratio <= 0.07
    accuracies = [float(accuracy_of(out).split()[0])]
    for seed in (1, 2):
        status, out, err = run(capsys, "train", "--output", tmp_path / str(seed), "--seed", seed,
                               "--threads", 1, "--quiet", "--no-plot")
        assert status == 0, err
        accuracies.append(float(accuracy_of(out).split()[0]))
    assert np.mean(accuracies) >= 0.92, accuracies


def test_init_and_weight_decay_reach_the_network(capsys, tmp_path):
    """--init, --init-scale and --weight-decay are passed on; without them the recipe's
    values."""
    def trained(*options):
        out_dir = tmp_path / "_".join(map(str, options))
        status, _, err = run(capsys, "train", "--output", out_dir, "--iterations", 1, "--no-plot",
                             *SMALL, *options)
        assert status == 0, err
        return nnbcd.load(out_dir / "model.safetensors")

    default = trained()
    explicit = trained("--init", "normal", "--init-scale", 0.01, "--weight-decay", 0.0003)
    for W, W_explicit in zip(default.weights, explicit.weights):  # TT: N(0, 0.01²), 0.0003
        np.testing.assert_array_equal(W, W_explicit)
    assert not np.allclose(default.weights[0], trained("--init", "kaiming_normal").weights[0])
    other = trained("--init-scale", 0.02, "--weight-decay", 0.001)
    assert not np.allclose(default.weights[0], other.weights[0])
    assert other.training_["weight_decay"] == pytest.approx(0.001 * 1347)


def test_weight_decay_trial_is_passed_on_and_refused_on_a_cluster(capsys, tmp_path):
    """--weight-decay-trial reaches the trainer; the recipe's trial needs a run longer than it
    (5 iterations: none); asked for on a Dask cluster it is a clear error, not a crash."""
    def trained(*options):
        status, _, err = run(capsys, "train", "--output", tmp_path / "_".join(map(str, options)),
                             "--iterations", 5, "--no-plot", *SMALL, *options)
        assert status == 0, err
        return nnbcd.load(tmp_path / "_".join(map(str, options)) / "model.safetensors")

    assert trained().training_["weight_decay_trial"] == 0
    chosen = trained("--weight-decay-trial", 3).training_
    assert chosen["weight_decay_trial"] == 3
    assert chosen["weight_decay_trial_result"]["iteration"] == 3
    pytest.importorskip("distributed")
    status, _, err = run(capsys, "train", "--output", tmp_path / "cluster", "--iterations", 5,
                         "--no-plot", *SMALL, "--weight-decay-trial", 3, "--workers", 1)
    assert status == 1 and "weight_decay_trial is not available on a Dask cluster" in err


def test_schedule_and_couplings_follow_the_compression_unless_given(capsys, tmp_path):
    """--tau, --tau-growth, --tau-max, --target-gap, --[no-]overwrite-weights, --gamma, --rho
    and --[no-]extrapolation are passed on; without them nnbcd.recipes': plain BCD (no W <- G),
    τ from 0.1 following a target gap of 0.05 (by 1.2-fold steps) for tensor trains and 200
    fixed for pruned networks,
    gamma = rho = 5 and extrapolation for compressed networks, gamma = rho = 1 and none for
    dense ones."""
    def settings(*options):
        out_dir = tmp_path / "_".join(map(str, options))
        status, _, err = run(capsys, "train", "--output", out_dir, "--iterations", 1, "--no-plot",
                             *SMALL, *options)
        assert status == 0, err
        training = nnbcd.load(out_dir / "model.safetensors").training_
        return (training["tau"], training["tau_growth"], training["tau_max"],
                training["target_gap"], training["overwrite_weights"], training["gamma"],
                training["rho"], training["extrapolation"])

    approx = pytest.approx
    assert settings() == (approx(0.1), approx(1.2), approx(1e5), approx(0.05), False,
                          approx(5.0), approx(5.0), True)
    assert settings("--sparsity", 0.9) == (approx(200.0), approx(1.0), approx(1e5), 0.0, False,
                                           approx(5.0), approx(5.0), True)
    assert settings("--dense") == (approx(5.0), approx(1.0), approx(1e5), 0.0, False,
                                   approx(1.0), approx(1.0), False)
    assert settings("--dense", "--extrapolation")[-1] is True
    assert settings("--sparsity", 0.9, "--tau", 3, "--tau-growth", 1.3, "--tau-max", 50,
                    "--target-gap", 0.1, "--overwrite-weights", "--gamma", 2, "--rho", 3,
                    "--no-extrapolation") == (
        approx(3.0), approx(1.3), approx(50.0), approx(0.1), True, approx(2.0), approx(3.0),
        False)
    assert settings("--tau", 0.5)[:4] == (approx(0.5), approx(1.2), approx(1e5), approx(0.05))
    assert settings("--tau", 5e5)[:3] == (approx(5e5), approx(1.2), approx(5e5))


def digits_csv(path, offset):
    """Digits / 16 plus ``offset`` as a CSV file (label last)."""
    X, y = load_digits(return_X_y=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"x{j}" for j in range(X.shape[1])] + ["label"])
        writer.writerows([*map(repr, (row / 16 + offset).tolist()), label]
                         for row, label in zip(X, y))
    return path


def test_centred_training_is_folded_into_the_model_and_ignores_an_offset(capsys, tmp_path):
    """Training centres the inputs and folds the centre into the first bias: the model file
    takes the inputs as given (evaluate agrees), and shifting every feature by 100 trains
    the same network (float64); --no-centre trains on the inputs as given."""
    options = ("--iterations", 30, "--dtype", "float64", "--no-plot")
    trained = {}
    for offset, centre in ((0, "--centre"), (100, "--centre"), (0, "--no-centre")):
        data = digits_csv(tmp_path / f"digits{offset}.csv", offset)
        trained[offset, centre] = train_and_evaluate(capsys, tmp_path / f"{offset}{centre}",
                                                     data, centre, *options)
        assert trained[offset, centre][1].training_["centred_inputs"] == (centre == "--centre")
    X = load_digits().data[:300] / 16
    centred, shifted, plain = (trained[key][1].decision_function(X + key[0]) for key in trained)
    np.testing.assert_allclose(shifted, centred, atol=1e-6)
    assert trained[0, "--centre"][0] == trained[100, "--centre"][0]
    assert not np.allclose(plain, centred, atol=1e-3)


def three_digit_classes():
    """Digits 0, 1 and 2 with string labels, raw pixels 0..16."""
    X, y = load_digits(n_class=3, return_X_y=True)
    return X, np.array(["zero", "one", "two"])[y]


def test_train_on_digits_writes_model_history_plot_and_evaluate_agrees(capsys, tmp_path):
    status, out, err = run(capsys, "train", "--output", tmp_path, "--iterations", 15,
                           "--hidden", 64, "--dense", "--threads", 1)
    assert status == 0, err
    assert "1347 train / 450 test samples" in out
    assert "objective=" in err and "validation=" in err  # the progress bar's postfix
    accuracy = accuracy_of(out)
    assert float(accuracy.split()[0]) >= 0.9
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["iteration"]) for row in rows] == list(range(1, 16))
    assert {"objective_total", "train_accuracy", "validation_accuracy"} <= set(rows[0])
    assert float(rows[-1]["validation_accuracy"]) == pytest.approx(float(accuracy.split()[0]),
                                                                   abs=1e-4)
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = nnbcd.load(tmp_path / "model.safetensors")
    assert model.sizes == [64, 64, 10]
    assert model.training_["iterations"] == 15
    assert model.training_["data"]["scale"] == 1 / 16
    assert model.training_["data"]["classes"] == list(range(10))
    status, evaluated, err = run(capsys, "evaluate", tmp_path / "model.safetensors", "digits",
                                 "--threads", 1)
    assert status == 0, err
    assert accuracy_of(evaluated) == accuracy
    # another split is another test set
    status, evaluated, _ = run(capsys, "evaluate", tmp_path / "model.safetensors", "digits",
                               "--test-size", 0.5)
    assert status == 0 and ACCURACY.search(evaluated).group(3) == "899"


def test_json_history_without_plot(capsys, tmp_path):
    status, _, err = run(capsys, "train", "--output", tmp_path, "--iterations", 4,
                         "--eval-every", 3, "--history-format", "json", "--no-plot", *SMALL)
    assert status == 0, err
    rows = json.loads((tmp_path / "history.json").read_text())
    assert [row["iteration"] for row in rows] == [1, 2, 3, 4]
    assert [row["train_accuracy"] is None for row in rows] == [True, True, False, False]
    assert not (tmp_path / "history.png").exists()
    assert err == ""  # --quiet: no progress bar


def test_without_matplotlib_the_plot_is_skipped_with_a_note(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    status, _, err = run(capsys, "train", "--output", tmp_path, "--iterations", 2, *SMALL)
    assert status == 0
    assert err.startswith("nnbcd: note: ") and err.count("\n") == 1
    assert "matplotlib is not installed" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["history.csv",
                                                                "model.safetensors"]


def test_python_dash_m(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nnbcd", "train", "--iterations", "3", "--output", str(tmp_path),
         *SMALL], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert ACCURACY.search(result.stdout)
    assert (tmp_path / "model.safetensors").exists()


def test_convnet_on_digits(capsys, tmp_path):
    _, model = train_and_evaluate(capsys, tmp_path, "digits", "--model", "convnet",
                                  "--filters", 4, "--iterations", 3, "--sparsity", 0.5)
    assert isinstance(model, nnbcd.ConvNet)
    assert model.input_shape == (8, 8, 1) and model.feature_map_shape == (3, 3, 4)
    assert [type(spec) for spec in model.compression] == [nnbcd.Pruned, nnbcd.Pruned, type(None)]


def test_npz_with_string_labels(capsys, tmp_path):
    X, y = three_digit_classes()
    np.savez(tmp_path / "data.npz", X=X, y=y)
    accuracy, model = train_and_evaluate(capsys, tmp_path, tmp_path / "data.npz",
                                         "--iterations", 10, "--scale", 0.0625)
    assert float(accuracy.split()[0]) >= 0.9
    assert model.training_["data"]["classes"] == ["one", "two", "zero"]
    assert model.training_["data"]["scale"] == 0.0625


def test_npz_images_with_their_own_test_set_train_a_convnet(capsys, tmp_path):
    X, y = three_digit_classes()
    images = (X / 16).reshape(-1, 8, 8)
    np.savez(tmp_path / "data.npz", X=images[:400], y=y[:400], X_test=images[400:],
             y_test=y[400:])
    accuracy, model = train_and_evaluate(capsys, tmp_path, tmp_path / "data.npz", "--model",
                                         "convnet", "--filters", 4, "--iterations", 3)
    assert accuracy.endswith(f"/{len(X) - 400})")
    assert model.input_shape == (8, 8, 1)


def test_csv_with_a_named_label_column(capsys, tmp_path):
    X, y = three_digit_classes()
    header = [f"pixel{k}" for k in range(64)]
    header.insert(5, "species")
    with open(tmp_path / "data.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row, label in zip(X.astype(int).tolist(), y):
            writer.writerow(row[:5] + [label] + row[5:])
    accuracy, model = train_and_evaluate(capsys, tmp_path, tmp_path / "data.csv",
                                         "--label-column", "species", "--iterations", 10,
                                         "--scale", 0.0625, "--tt-rank", 4)
    assert model.sizes[0] == 64
    assert model.training_["data"]["label_column"] == "species"
    assert model.training_["data"]["classes"] == ["one", "two", "zero"]


def test_mnist_directory_with_a_training_subset(capsys, tmp_path):
    X, y = load_digits(return_X_y=True)
    pixels = (X * 255 / 16).round().astype(np.uint8).reshape(-1, 8, 8)
    for prefix, part in (("train", slice(0, 300)), ("t10k", slice(300, 400))):
        images, labels = pixels[part], y[part].astype(np.uint8)
        (tmp_path / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">4I", 2051, *images.shape) + images.tobytes())
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">2I", 2049, len(labels)) + labels.tobytes())
    status, out, err = run(capsys, "train", "--data", tmp_path, "--train-size", 200,
                           "--model", "convnet", "--filters", 4, "--iterations", 3,
                           "--output", tmp_path / "run", *SMALL)
    assert status == 0, err
    assert "200 train / 100 test samples" in out
    model = nnbcd.load(tmp_path / "run" / "model.safetensors")
    assert model.input_shape == (8, 8, 1)
    status, evaluated, err = run(capsys, "evaluate", tmp_path / "run" / "model.safetensors",
                                 tmp_path, "--threads", 1)
    assert status == 0, err
    assert accuracy_of(evaluated) == accuracy_of(out)


def test_info_on_tensor_train_and_pruned_models(capsys, tmp_path):
    tt = nnbcd.MLP([64, 64, 64, 10], compression=[nnbcd.TensorTrain(3)] * 2 + [None])
    pruned = nnbcd.ConvNet(input_shape=(8, 8, 1), filters=4, kernel=3, stride=1, hidden=(32,),
                           compression=[nnbcd.Pruned(0.5), nnbcd.Pruned(0.8), None])
    for name, model in (("tt", tt), ("pruned", pruned)):
        model.save(tmp_path / name)
        status, out, err = run(capsys, "info", tmp_path / name)
        assert status == 0, err
        network = re.search(r"network: (\d+) of (\d+) parameters, compression ratio (\S+)", out)
        assert int(network.group(1)) == model.parameter_count
        assert int(network.group(2)) == model.dense_parameter_count
        assert float(network.group(3)) == pytest.approx(model.compression_ratio, rel=1e-5)
        assert "training: none recorded" in out
    status, out, _ = run(capsys, "info", tmp_path / "tt")
    assert out.count("ranks 1-3-3-3-3-3-1") == 2 and "MLP 64 -> 64 -> 64 -> 10" in out
    status, out, _ = run(capsys, "info", tmp_path / "pruned")
    assert "convolution 4 filters 3x3 stride 1 -> 6x6x4 -> 32 -> 10" in out
    assert f"sparsity {pruned.sparsity:.6g}, effective sparsity " in out


def test_info_shows_the_training_record(capsys, tmp_path):
    status, _, err = run(capsys, "train", "--output", tmp_path, "--iterations", 2, "--no-plot",
                         "--sparsity", 0.75, *SMALL)
    assert status == 0, err
    status, out, _ = run(capsys, "info", tmp_path / "model.safetensors")
    assert "pruned to sparsity 0.75 (layer scope)" in out
    assert "training: NN-BCD, 2 iterations" in out
    assert "data: digits (scale 0.0625, test size 0.25, seed 0); 10 classes" in out


def test_export_to_onnx_gives_the_network_outputs(capsys, tmp_path, monkeypatch):
    import onnxruntime

    model = nnbcd.ConvNet(input_shape=(8, 8, 1), filters=4, kernel=3, stride=1, hidden=(32,),
                          compression=[nnbcd.Pruned(0.5), nnbcd.TensorTrain(3), None])
    model.save(tmp_path / "model.safetensors")
    status, out, err = run(capsys, "export", tmp_path / "model.safetensors", "--format", "onnx",
                           tmp_path / "model.onnx")
    assert status == 0, err
    assert re.match(r'.*model\.onnx: ONNX opset 17, \d+ bytes; input "input" \(batch, 64\), '
                    r'output "output" \(batch, 10\), float32$', out.strip())
    session = onnxruntime.InferenceSession(tmp_path / "model.onnx",
                                           providers=["CPUExecutionProvider"])
    X = load_digits().data[:20].astype(np.float32) / 16
    np.testing.assert_allclose(session.run(None, {"input": X})[0], model.decision_function(X),
                               atol=1e-5)
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    status, _, err = run(capsys, "export", tmp_path / "model.safetensors", tmp_path / "b.onnx")
    assert status == 1 and err.count("\n") == 1
    assert 'needs the onnx package, which is not installed: pip install "nnbcd[onnx]"' in err


@pytest.mark.filterwarnings("always::RuntimeWarning")
def test_ctrl_c_keeps_what_was_trained(capsys, tmp_path, monkeypatch):
    step = nnbcd.TrainingState.step

    def interrupted_at_third(state):
        if state.iteration == 2:
            raise KeyboardInterrupt
        step(state)

    monkeypatch.setattr(nnbcd.TrainingState, "step", interrupted_at_third)
    status, out, err = run(capsys, "train", "--output", tmp_path, "--iterations", 10, *SMALL)
    assert status == 0, err
    assert "nnbcd: warning: training interrupted after iteration 2" in err
    assert "after 2 iterations" in out
    assert nnbcd.load(tmp_path / "model.safetensors").training_["iterations"] == 2
    with open(tmp_path / "history.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2


@pytest.mark.parametrize("error,message", [
    (nnbcd.DivergenceError("nnbcd: this run diverged at iteration 1"),
     "nnbcd: error: this run diverged at iteration 1\n"),
    (MemoryError(), "nnbcd: error: out of memory\n"),
])
def test_failed_training_is_one_line(capsys, tmp_path, monkeypatch, error, message):
    def fail(state):
        raise error

    monkeypatch.setattr(nnbcd.TrainingState, "step", fail)
    status, _, err = run(capsys, "train", "--output", tmp_path / "run", *SMALL)
    assert status == 1 and err == message


def test_evaluate_a_model_without_a_training_record(capsys, tmp_path):
    model = nnbcd.MLP([64, 16, 10])
    model.save(tmp_path / "untrained")
    status, out, err = run(capsys, "evaluate", tmp_path / "untrained", "digits")
    assert status == 0, err
    assert accuracy_of(out).endswith("/450)")  # the default split; classes 0..9
    model.training_ = {"data": {"classes": list("abcdefghij")}}
    model.save(tmp_path / "letters")
    status, out, err = run(capsys, "evaluate", tmp_path / "letters", "digits")
    assert status == 1
    assert re.match(r"nnbcd: error: data digits has the label \d, which is not one of the "
                    r"model's classes \['a', ", err)
    model.training_ = "written by hand"
    model.save(tmp_path / "odd")
    status, out, _ = run(capsys, "info", tmp_path / "odd")
    assert status == 0 and "training: written by hand" in out


def bad_files(tmp_path):
    """A corrupt model file, a text file, and a CSV file."""
    model = tmp_path / "model.safetensors"
    nnbcd.MLP([64, 8, 10]).save(model)
    data = bytearray(model.read_bytes())
    data[-3] ^= 0xFF
    model.write_bytes(bytes(data))
    (tmp_path / "data.txt").write_text("1,2,3\n")
    (tmp_path / "data.csv").write_text("a,b,label\n" + "".join(
        f"{k},{k % 3},{'xy'[k % 2]}\n" for k in range(8)))
    return model


@pytest.mark.parametrize("argv,status,message", [
    (["train", "--data", "{tmp}/missing.npz"], 1, "no such file or directory"),
    (["train", "--data", "{tmp}/data.txt"], 1, "unknown kind of file"),
    (["train", "--sparsity", "1.5"], 2, "argument --sparsity: must be in [0, 1), got 1.5"),
    (["train", "--tt-rank", "0"], 2, "argument --tt-rank: must be >= 1, got 0"),
    (["train", "--tt-rank", "x"], 2, "invalid int value: 'x'"),
    (["train", "--tt-rank", "2", "--sparsity", "0.5"], 2, "not allowed with argument"),
    (["train", "--frobnicate"], 2, "unrecognized arguments"),
    (["evaluate", "{tmp}/model.safetensors", "digits"], 1, "does not match its checksum"),
    (["info", "{tmp}/model.safetensors"], 1, "does not match its checksum"),
    (["info", "{tmp}/data.csv"], 1, "not a valid safetensors file"),
    (["info", "{tmp}/nothing"], 1, "No such file or directory"),
    (["export", "{tmp}/model.safetensors", "{tmp}/model.onnx"], 1, "does not match its checksum"),
    (["export", "{tmp}/model.safetensors", "--format", "tflite", "{tmp}/model.onnx"], 2,
     "argument --format: invalid choice: 'tflite' (choose from 'onnx')"),
    (["export", "{tmp}/model.safetensors", "{tmp}/model.onnx", "--opset", "12"], 2,
     "argument --opset: must be >= 13, got 12"),
    (["train", "--data", "{tmp}/data.csv", "--label-column", "class"], 1,
     "has no label column 'class' (its columns: a, b, label)"),
    (["train", "--data", "{tmp}/data.csv", "--model", "convnet"], 1, "--input-shape H W C"),
    (["train", "--label-column", "label"], 1, "--label-column is for .csv files"),
    (["train", "--gamma", "-1"], 2, "argument --gamma: must be a positive finite number, got -1"),
    (["train", "--rho", "nan"], 2, "argument --rho: must be a positive finite number, got nan"),
    (["train", "--weight-decay", "-0.1"], 2,
     "argument --weight-decay: must be a finite number >= 0, got -0.1"),
    (["train", "--tau", "2", "--tau-max", "1"], 2,
     "argument --tau-max: must be >= --tau (2), got 1"),
])
def test_bad_input_is_one_line(capsys, tmp_path, argv, status, message):
    bad_files(tmp_path)
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    got, out, err = run(capsys, *argv, "--output", tmp_path / "run") if argv[0] == "train" \
        else run(capsys, *argv)
    assert got == status
    assert err.startswith("nnbcd: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err + out
    assert not (tmp_path / "run").exists()


def test_cmake_locations(capsys):
    # an editable install keeps the C++ package beside the compiled cores, not the sources
    configs = [Path(p).resolve() / "share" / "cmake" / "nnbcd" / "nnbcdConfig.cmake"
               for p in nnbcd.__path__]
    config = next((c for c in configs if c.is_file()), None)
    for command in ("cmakedir", "cmake-prefix-path"):
        status, out, err = run(capsys, command)
        if config is not None:  # an installed wheel, or an editable install
            assert status == 0 and str(config.parent.parents[2]) in out
        else:  # the source tree
            assert status == 1 and err.startswith("nnbcd: error: no nnbcdConfig.cmake under")


def test_checkpoint_resume_gives_the_uninterrupted_run(capsys, tmp_path):
    options = ["--iterations", 6, *SMALL, "--history-format", "json", "--no-plot"]
    status, _, err = run(capsys, "train", "--output", tmp_path / "whole", *options)
    assert status == 0, err
    checkpoint = tmp_path / "run.ckpt"
    status, _, err = run(capsys, "train", "--output", tmp_path / "part", *options[2:],
                         "--iterations", 3, "--checkpoint", checkpoint, "--checkpoint-every", 2)
    assert status == 0 and checkpoint.exists(), err
    # Training on: the same command with more iterations resumes from the checkpoint.
    status, _, err = run(capsys, "train", "--output", tmp_path / "resumed", *options,
                         "--checkpoint", checkpoint)
    assert status == 0, err
    whole = json.loads((tmp_path / "whole" / "history.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "history.json").read_text())
    for row in whole + resumed:
        row.pop("seconds")
    assert resumed == whole
    first = nnbcd.load(tmp_path / "whole" / "model.safetensors")
    second = nnbcd.load(tmp_path / "resumed" / "model.safetensors")
    for a, b in zip(first.weights + first.biases, second.weights + second.biases):
        np.testing.assert_array_equal(a, b)
    status, _, err = run(capsys, "train", "--output", tmp_path / "other", *options,
                         "--rho", 2, "--checkpoint", checkpoint)
    assert status == 1 and "different trainer settings" in err and "Traceback" not in err


def test_divergence_is_one_line_and_keeps_the_last_good_model(capsys, tmp_path):
    X, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "huge.npz", X=X * 1e18, y=y)  # overflows float32 in the first update
    status, _, err = run(capsys, "train", "--data", tmp_path / "huge.npz", "--output",
                         tmp_path / "run", *SMALL, "--iterations", 3, "--no-plot")
    assert status == 1 and "Traceback" not in err
    assert re.search(r"nnbcd: error: .*iteration 1.*keeps the parameters of iteration 0", err)
    model = nnbcd.load(tmp_path / "run" / "model.safetensors")
    assert all(np.isfinite(W).all() for W in model.weights)


def test_workers_and_scheduler_train_on_a_dask_cluster_like_one_process(capsys, tmp_path):
    distributed = pytest.importorskip("distributed")
    options = ["--iterations", 5, "--dtype", "float64", "--history-format", "json", "--no-plot"]
    status, out, err = run(capsys, "train", "--output", tmp_path / "one", *SMALL, *options)
    assert status == 0, err
    with distributed.LocalCluster(n_workers=3, threads_per_worker=1,
                                  dashboard_address=":0") as cluster:
        runs = {"workers": ["--workers", 2], "scheduler": ["--scheduler",
                                                           cluster.scheduler_address]}
        for name, where in runs.items():
            status, out_cluster, err = run(capsys, "train", "--output", tmp_path / name, *SMALL,
                                           *options, *where)
            assert status == 0, err
            assert accuracy_of(out_cluster) == accuracy_of(out)
    one = json.loads((tmp_path / "one" / "history.json").read_text())
    for name in runs:
        other = json.loads((tmp_path / name / "history.json").read_text())
        np.testing.assert_allclose([row["objective_total"] for row in other],
                                   [row["objective_total"] for row in one], rtol=1e-10)
