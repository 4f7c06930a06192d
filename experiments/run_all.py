"""Every experiment, one after the other: ``python -m experiments.run_all`` (add ``--tiny`` for the
seconds-long versions, ``--publish`` to copy each finished experiment's tables, figures and
summary.json into ``experiments/results/<name>/``).

Resumable: each experiment keeps what it finished in ``<out>/<name>/`` and a rerun continues where
the last one stopped. Progress: one line per experiment on stderr, with its wall time.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from jaxinit import experiment

EXPERIMENTS = ("moons_initialization", "mnist_schemes", "constant_init_symmetry",
               "deep_activation_statistics", "finite_width_corrections",
               "trainability_phase_diagram", "batchnorm_vs_initialization", "deep_plain_networks")
"""The experiments, in the order they run (cheapest first where the order is free)."""
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--tiny", action="store_true", help="the seconds-long version of each")
  p.add_argument("--out", default="runs", help="the experiments' parent folder (default runs)")
  p.add_argument("--only", help=f"comma-separated names; known: {', '.join(EXPERIMENTS)}")
  p.add_argument("--publish", action="store_true",
                 help="copy each one's paper outputs into experiments/results/<name>/")
  args = p.parse_args(argv)
  chosen = EXPERIMENTS if not args.only else tuple(args.only.split(","))
  unknown = sorted(set(chosen) - set(EXPERIMENTS))
  if unknown:
    p.error(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENTS)}")
  if args.publish and args.tiny:
    p.error("--publish copies full-size results; it cannot be used with --tiny")
  t_all = time.perf_counter()
  for i, name in enumerate(chosen, 1):
    folder = Path(args.out) / f"{name}{'-tiny' if args.tiny else ''}"
    print(f"[{i}/{len(chosen)}] {name} -> {folder}", file=sys.stderr, flush=True)
    t = time.perf_counter()
    module = importlib.import_module(f"experiments.{name}")
    rc = module.main([*(["--tiny"] if args.tiny else []), "--out", str(folder)])
    if rc:
      print(f"[{i}/{len(chosen)}] {name} failed (exit {rc})", file=sys.stderr)
      return rc
    if args.publish:
      experiment.publish(folder, RESULTS / name)
    print(f"[{i}/{len(chosen)}] {name} done in {time.perf_counter() - t:.1f} s",
          file=sys.stderr, flush=True)
  print(f"all {len(chosen)} done in {time.perf_counter() - t_all:.1f} s", file=sys.stderr)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
