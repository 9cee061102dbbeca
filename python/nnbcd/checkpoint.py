"""Checkpoints: everything a BCD run needs to continue exactly where it stopped.

A checkpoint is a safetensors file in the model file's container (``nnbcd.model_file``): the
deployed network as in a model file, plus the training weights W_i of compressed layers, the
lifted variables U_i and V_i, and under the metadata key "checkpoint" the iteration, the τ of
the schedule, the trainer's settings, a SHA-256 of the training data and the history so far.
A run with ``extrapolation`` also stores the point its last sweep ended at ("extrapolation.*"
tensors) and Nesterov's t. During a weight-decay trial the rival run is stored the same way,
its tensors' names prefixed "trial." and its record under "checkpoint" → "trial". Resuming with
the same data, settings and thread count gives bit-identical results (a Dask run's
extrapolation restarts its t instead).
"""

import dataclasses
import hashlib
import os

import numpy as np

from .history import History
from .model_file import (ModelFileError, _metadata, _restore_layer, _tensor, _tensors, decode,
                         encode, read, write_atomic)

FORMAT = "nnbcd.checkpoint"
VERSION = 1
TRIAL = "trial."  # the prefix of the tensors of a weight-decay trial's rival
# Metadata that may differ between the network being trained and the one checkpointed (the
# initialisation does not matter: the checkpoint's parameters replace it).
_NOT_ARCHITECTURE = ("training", "library_version", "checkpoint", "crc32", "init", "init_scale",
                     "seed")


def data_fingerprint(X, Y):
    """SHA-256 of the training inputs and targets (values, shapes and dtype)."""
    return parts_fingerprint([X], [Y])


def parts_fingerprint(X_parts, Y_parts):
    """``data_fingerprint`` of the row-wise concatenations of the parts (a run's shards), without
    concatenating them."""
    digest = hashlib.sha256()
    for parts in (X_parts, Y_parts):
        shape = (sum(part.shape[0] for part in parts),) + parts[0].shape[1:]
        digest.update(f"{parts[0].dtype.str}{shape}".encode())
        for part in parts:
            digest.update(memoryview(np.ascontiguousarray(part)).cast("B"))
    return digest.hexdigest()


def save_checkpoint(state, history, path):
    """Write the state of a training run (a ``TrainingState``) and its ``History`` to ``path``,
    atomically: an interrupted write leaves the previous checkpoint intact."""
    meta = _metadata(state.model)
    run, tensors = _run(state)
    meta["checkpoint"] = {
        "format": FORMAT, "version": VERSION, **run, "trainer": state.trainer.settings(),
        "data_sha256": state.fingerprint(), "history": dataclasses.asdict(history)}
    if state.rival is not None:
        run, rival_tensors = _run(state.rival)
        meta["checkpoint"]["trial"] = run
        tensors.update({TRIAL + name: tensor for name, tensor in rival_tensors.items()})
    write_atomic(encode(meta, tensors), path)


def _run(state):
    """What continues the run ``state``: its record (iteration, τ, λ_i, the extrapolation's t)
    and its tensors (the network, its training W, the lifted and the extrapolation's)."""
    model = state.model
    run = {"iteration": state.iteration, "scheduled_tau": float(state.scheduled_tau),
           "weight_decay": state.weight_decay}
    tensors = _tensors(model)
    for i, spec in enumerate(model.compression):
        if spec is not None:
            tensors[f"training.{i}.weight"] = np.ascontiguousarray(model.weights[i])
    for i, (U, V) in enumerate(zip(*state.lifted())):
        # (d_i, n) column-major from the core: its transpose is C-contiguous without a copy.
        tensors[f"training.{i}.U"] = np.ascontiguousarray(U.T)
        tensors[f"training.{i}.V"] = np.ascontiguousarray(V.T)
    kept = state.extrapolation_state() if state.trainer.extrapolation else None
    if kept is not None:
        t, restarts, W, b, U, V = kept
        run["extrapolation"] = {"t": int(t), "restarts": int(restarts)}
        for i in range(model.n_layers):
            tensors[f"extrapolation.{i}.weight"] = np.ascontiguousarray(W[i])
            tensors[f"extrapolation.{i}.bias"] = np.ascontiguousarray(b[i])
        for i, (u, v) in enumerate(zip(U, V)):
            tensors[f"extrapolation.{i}.U"] = np.ascontiguousarray(u.T)
            tensors[f"extrapolation.{i}.V"] = np.ascontiguousarray(v.T)
    return run, tensors


def restore_checkpoint(state, path):
    """Put the run saved at ``path`` into ``state`` (just started on the same network and data
    by the same trainer settings) and return its ``History``. ``ValueError`` names what differs;
    ``ModelFileError`` if the file is corrupt."""
    source = os.fspath(path)
    meta, tensors = decode(read(path), source)
    saved = meta.get("checkpoint") if isinstance(meta, dict) else None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ModelFileError(f"{source}: not an nnbcd checkpoint")
    if saved.get("version") != VERSION:
        raise ModelFileError(f"{source}: checkpoint version {saved.get('version')!r} is not "
                             f"supported (this nnbcd reads version {VERSION})")
    model = state.model
    _check_same("network", _architecture(meta), _architecture(_metadata(model)), source)
    # checkpoints from before these settings existed ran without them
    trainer = {"extrapolation": False, "target_gap": 0.0, "weight_decay_trial": 0,
               **(saved.get("trainer") or {})}
    _check_same("trainer settings", trainer, state.trainer.settings(), source)
    if saved.get("data_sha256") != state.fingerprint():
        raise ValueError(f"checkpoint {source} was written for different training data (X, y); "
                         "resume with the data it was trained on, or start a new checkpoint")
    rival = {name[len(TRIAL):]: tensor for name, tensor in tensors.items()
             if name.startswith(TRIAL)}
    try:
        _restore_run(state, saved, {name: tensor for name, tensor in tensors.items()
                                    if not name.startswith(TRIAL)})
        if "trial" in saved:
            if state.rival is None:
                raise ModelFileError("it holds a weight-decay trial's rival, but this run has "
                                     "no trial")
            _restore_run(state.rival, saved["trial"], rival)
        else:  # the trial was decided (or its rival dropped) before it was saved
            state.rival = None
        history = History(**saved["history"])
    except ModelFileError as e:
        raise ModelFileError(f"{source}: {e}") from None
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{source}: inconsistent checkpoint ({e})") from None
    model.training_ = meta.get("training")
    return history


def _restore_run(state, saved, tensors):
    """Put the run that ``_run`` recorded as ``saved`` and ``tensors`` into ``state``."""
    model = state.model
    used = _restore_network(model, tensors)
    n, dtype = state.n_samples, model.dtype
    names = [[f"training.{i}.{kind}" for i in range(model.n_layers)] for kind in "UV"]
    lifted = [[np.asarray(_tensor(tensors, name, (n, d), dtype)).T
               for name, d in zip(kind, model.sizes[1:])] for kind in names]
    kept, kept_names = _kept_point(model, saved, tensors, n)
    unexpected = sorted(set(tensors) - used - set(names[0]) - set(names[1]) - kept_names)
    if unexpected:
        raise ModelFileError(f"unexpected tensors {unexpected}")
    state.restore(saved["iteration"], saved["scheduled_tau"], *lifted, extrapolation=kept)
    # the λ_i in use when it was saved (the trainer's unless set during the run)
    state.weight_decay = saved.get("weight_decay", state.weight_decay)


def _kept_point(model, saved, tensors, n):
    """The extrapolation's state as ``TrainingState.restore`` takes it (None: not saved), and
    the names of the tensors it used."""
    if "extrapolation" not in saved:
        return None, set()
    t, restarts = int(saved["extrapolation"]["t"]), int(saved["extrapolation"]["restarts"])
    layers = range(model.n_layers)
    names = {f"extrapolation.{i}.{kind}" for i in layers for kind in ("weight", "bias")}
    W = [_tensor(tensors, f"extrapolation.{i}.weight", model.weights[i].shape, model.dtype)
         for i in layers]
    b = [_tensor(tensors, f"extrapolation.{i}.bias", model.biases[i].shape, model.dtype)
         for i in layers]
    U, V = [], []
    if t > 1:
        for i, d in zip(layers, model.sizes[1:]):
            U.append(np.asarray(_tensor(tensors, f"extrapolation.{i}.U", (n, d), model.dtype)).T)
            V.append(np.asarray(_tensor(tensors, f"extrapolation.{i}.V", (n, d), model.dtype)).T)
            names |= {f"extrapolation.{i}.U", f"extrapolation.{i}.V"}
    return (t, restarts, W, b, U, V), names


def _architecture(meta):
    return {key: value for key, value in meta.items() if key not in _NOT_ARCHITECTURE}


def _check_same(what, saved, current, source):
    if saved != current:
        differ = sorted(key for key in set(saved or {}) | set(current)
                        if (saved or {}).get(key) != current.get(key))
        raise ValueError(f"checkpoint {source} was written with different {what} (differs in "
                         f"{differ}); resume with the same ones, or start a new checkpoint")


def _restore_network(model, tensors):
    """The saved parameters, into the network being trained (in place: the run holds it);
    returns the names of the tensors used."""
    used = set()
    for i, spec in enumerate(model.compression):
        used |= _restore_layer(model, i, spec, tensors)  # G (and W <- G) from its stored form
        if spec is not None:
            name = f"training.{i}.weight"
            model.weights[i][...] = _tensor(tensors, name, model.weights[i].shape, model.dtype)
            used.add(name)
        name = f"layers.{i}.bias"
        model.biases[i][...] = _tensor(tensors, name, model.biases[i].shape, model.dtype)
        used.add(name)
    model._net.check_global_pruning()
    return used
