"""Screening prototype (#18): a forward pass over the lifted variables after every sweep.

The paper's sweep runs backward (layer N down to 1), so the labels reach every layer in one
sweep while the input's information moves up one layer per sweep: U_i is updated from the
V_{i−1} of the sweep before. Here, after each sweep, U_i and V_i are updated again in forward
order i = 1..N (each the exact minimiser of its block, with the sweep's γ, ρ, α, so Φ still
cannot rise), from the V_{i−1} just computed. The run then goes on from that point, with its
extrapolation state moved to it (``TrainingState.restore``). Multilayer perceptrons only.
Prints the deployed network's training and test accuracy.

    python bench/prototype_forward_pass.py lenet --iterations 100 --eval-every 10 --threads 1
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

from nnbcd import blocks  # noqa: E402


def forward_pass(state):
    """U_i, V_i for i = 1..N in forward order, each its block's exact minimiser."""
    trainer = state.trainer
    gamma, rho, alpha = trainer.gamma, trainer.rho, trainer.alpha
    U, V = state.lifted()
    W, b = state.model.weights, state.model.biases
    Y = np.ascontiguousarray(state.Y.T)  # TrainingState holds X, Y as (n_samples, d)
    V_prev = np.ascontiguousarray(state.X.T)
    last = len(W) - 1
    for i in range(last):
        U[i] = blocks.hidden_u(V[i], V_prev, W[i], b[i], U[i], rho, gamma, alpha)
        V[i] = blocks.hidden_v(U[i], U[i + 1], W[i + 1], b[i + 1], rho, gamma)
        V_prev = V[i]
    U[last] = blocks.output_u(V[last], W[last], b[last], V_prev, gamma, rho)
    V[last] = blocks.output_v(Y, U[last], V[last], gamma, alpha)
    return U, V


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=list(suite.PROBLEMS))
    parser.add_argument("--off", action="store_true", help="no forward pass (the control)")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print("command: python bench/prototype_forward_pass.py " + " ".join(sys.argv[1:]))
    _, (X, y, X_test, y_test), state = suite.started(args.problem, args.threads)

    def iteration(k, state):
        state.step()
        if not args.off:
            before = state.objective()["total"]
            U, V = forward_pass(state)
            t, restarts, W, b, _, _ = state.extrapolation_state()
            state.restore(state.iteration, state.scheduled_tau, U, V, (t, restarts, W, b, U, V))
            after = state.objective()["total"]
            if after > before * (1 + 1e-5):
                print(f"  iteration {k}: the forward pass raised Phi {before:.6g} -> {after:.6g}")
        return state

    suite.screen(state, args.iterations, args.eval_every, X_test, y_test, args.threads,
                 iteration, lambda state: f"Phi {state.objective()['total']:.6g}, ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
