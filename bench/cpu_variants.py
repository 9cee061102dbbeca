"""One NN-BCD iteration with each compiled variant of the core, forced by NNBCD_CPU_VARIANT.

Runs bench/roofline.py's measurement of each network (a fresh process each time) for every
variant in turn, round after round, so that a busy machine's load falls on all variants alike,
and prints the medians: seconds per iteration, the core's own GEMM rate (a dense 1024 -> 1024
layer's forward pass, roofline.py's "Eigen GF/s"), the floor (counted FLOPs at numpy's SGEMM rate,
measured in the same process) and the fraction of it reached.

    python bench/cpu_variants.py                                   # x86_64_v3 against x86_64_v4
    python bench/cpu_variants.py --variants baseline,x86_64_v3 --networks har --rounds 5
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_name, format_table, loadavg  # noqa: E402

ROOFLINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "roofline.py")


def measure(network, variant, threads, iterations):
    env = dict(os.environ, NNBCD_CPU_VARIANT=variant)
    done = subprocess.run([sys.executable, ROOFLINE, "--one", network, "--threads", str(threads),
                           "--iterations", str(iterations), "--skip-baseline"],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="x86_64_v3,x86_64_v4")
    parser.add_argument("--networks", default="har,cnn", help="from roofline.py's networks")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="default 0: all usable cores")
    parser.add_argument("--iterations", type=int, default=3, help="timed, per process")
    args = parser.parse_args(argv)
    from nnbcd.threads import usable_cores
    threads = args.threads or usable_cores()
    variants = args.variants.split(",")
    networks = args.networks.split(",")

    print("command: python bench/cpu_variants.py " + " ".join(sys.argv[1:] if argv is None
                                                              else argv))
    print(f"cpu: {cpu_name()}, {threads} thread(s); 1-minute load average {loadavg():.2f}")
    runs = {(n, v): [] for n in networks for v in variants}
    loads = []
    for round_ in range(args.rounds):
        for network in networks:
            for variant in variants:
                r = measure(network, variant, threads, args.iterations)
                floor = sum(r["flops"].values()) / r["sgemm numpy"] / 1e9
                runs[network, variant].append((r["seconds"], floor, r["sgemm numpy"], r["sgemm eigen"]))
                loads.append(loadavg())
                print(f"round {round_ + 1} {network} {variant}: {r['seconds']:.3f} s/iter, "
                      f"floor {floor:.3f} s, load {loads[-1]:.2f}", flush=True)

    rows = []
    for (network, variant), results in runs.items():
        seconds, floors, rates, eigen_rates = (np.array(column) for column in zip(*results))
        rows.append([network, variant, f"{np.median(seconds):.3f}",
                     f"{seconds.min():.3f}-{seconds.max():.3f}", f"{np.median(rates):.0f}",
                     f"{np.median(eigen_rates):.0f}", f"{np.median(floors):.3f}", f"{np.median(floors / seconds):.2f}"])
    print(f"\nMedians of {args.rounds} rounds ({args.iterations} timed iterations each), "
          f"{threads} thread(s); load average {min(loads):.1f}-{max(loads):.1f} during the runs")
    print(format_table(["network", "variant", "s/iter", "range", "SGEMM GF/s",
                        "Eigen GEMM GF/s", "floor s",
                        "fraction of floor"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
