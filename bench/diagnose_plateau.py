"""Why the paper's CNN levels off (#18): where a run stands, every few iterations.

Trains the CNN of bench/cnn_mnist.py with the library's defaults (bench/suite.py's cnn-r40 or
cnn-r220), or with ``--preset notebook`` as bench/cnn_mnist.py does, ``--bcd`` overrides on
top, and prints, at
each evaluation, the deployed network's training and test accuracy, the lifted network's training
accuracy (argmax of U_N: V_N holds Y itself), each dense layer's relative coupling residuals
‖U_i − W_i V_{i−1} − b_i‖ / ‖U_i‖ and ‖V_i − relu(U_i)‖ / ‖V_i‖, and how exactly the float32 core
solves the largest weight block: W2's update recomputed from the same blocks in float32 and in
float64, their relative difference and the float32 solution's excess in the block's own
objective, as a fraction of the block's decrease.

    python bench/diagnose_plateau.py --preset notebook --bcd '{"extrapolation": true}' \
        --iterations 150 --eval-every 25 --threads 1
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
from cnn_mnist import DEFAULT_MNIST, paper_cnn, trainer_for  # noqa: E402

from nnbcd import blocks  # noqa: E402


def relative(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def weight_block_objective(W, U, V_prev, b, W_old, G, rho, alpha, weight_decay, tau):
    """The W block's own objective, in float64."""
    W, U, V_prev, b, W_old, G = (np.asarray(x, np.float64) for x in (W, U, V_prev, b, W_old, G))
    fit = U - W @ V_prev - b[:, None]
    return (rho / 2 * np.sum(fit ** 2) + alpha / 2 * np.sum((W - W_old) ** 2)
            + weight_decay / 2 * np.sum(W ** 2) + tau / 2 * np.sum((W - G) ** 2))


def solve_exactness(state, trainer, layer):
    """(relative difference of the float32 and float64 solutions, the float32 solution's excess
    objective as a fraction of the block's decrease) for ``layer``'s weight update."""
    U, V = state.lifted()
    W = state.model.weights[layer]
    b = state.model.biases[layer]
    settings = dict(rho=trainer.rho, alpha=trainer.alpha, weight_decay=trainer.weight_decay,
                    tau=state.tau)
    G = W  # W <- G after every sweep: the projection is the weight itself
    W32 = blocks.weights(U[layer], V[layer - 1], W, b, G=G, **settings)
    W64 = blocks.weights(*(np.asarray(x, np.float64) for x in (U[layer], V[layer - 1], W, b)),
                         G=np.asarray(G, np.float64), **settings)
    f = [weight_block_objective(x, U[layer], V[layer - 1], b, W, G, **settings)
         for x in (W, W32, W64)]
    return relative(W32, W64), (f[1] - f[2]) / max(f[0] - f[2], 1e-30)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--rank", type=int, choices=[40, 220], default=40)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--preset", choices=["notebook"], default=None)
    parser.add_argument("--bcd", type=json.loads, default={})
    args = parser.parse_args(argv)
    print("command: python bench/diagnose_plateau.py " + " ".join(sys.argv[1:]), flush=True)

    problem = suite.PROBLEMS[f"cnn-r{args.rank}"]
    X, y, X_test, y_test = suite.load(problem.data, DEFAULT_MNIST)
    if args.preset:
        state = trainer_for(args.preset, args.threads, 1.0, True, args.bcd).start(
            paper_cnn(args.rank, 0, args.preset), X, y)
    else:
        state = suite.start(problem, X, y, 0, args.threads, args.bcd)
    model, trainer = state.model, state.trainer
    layers = range(1, model.n_layers)
    print("iter  train  test   lifted  " + "  ".join(
        f"fit{i + 1}" + (f"  relu{i + 1}" if i < model.n_layers - 1 else "") for i in layers)
          + "  W2 f32-vs-f64  W2 excess", flush=True)
    for k in range(1, args.iterations + 1):
        state.step()
        if k % args.eval_every:
            continue
        U, V = state.lifted()
        residuals = []
        for i in layers:
            W, b = model.weights[i], model.biases[i]
            residuals.append(relative(W @ V[i - 1] + b[:, None], U[i]))
            if i < model.n_layers - 1:
                residuals.append(relative(np.maximum(U[i], 0), V[i]))
        lifted = float(np.mean(np.argmax(U[-1], axis=0) == y))
        difference, excess = solve_exactness(state, trainer, 1)
        test = float(np.mean(model.predict(X_test, args.threads) == y_test))
        print(f"{k:4d}  {state.train_accuracy():.4f} {test:.4f} {lifted:.4f}  "
              + "  ".join(f"{r:.3f}" for r in residuals)
              + f"  {difference:.2e}  {excess:.2e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
