"""Every experiment: ``python -m experiments.run_all`` (add ``--tiny`` for the seconds-long
versions, ``--jobs 2`` to run two at a time, ``--publish`` to copy each finished experiment's tables,
figures and summary.json into ``experiments/results/<name>/``).

Resumable: each experiment keeps what it finished in ``<out>/<name>/`` and a rerun continues where
the last one stopped. Progress: one line per experiment on stderr as it starts and ends, with its
wall time. One at a time, the first failure stops the run; with ``--jobs N > 1`` each experiment
runs in its own process (its output goes to ``<its folder>.log``), the others go on after one
fails, and the exit status is 1 if any failed. Most of a tiny run is XLA compiling, which one
process does on one core.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from pathlib import Path

from jaxinit.results import provenance
from jaxinit.studies import gallery

EXPERIMENTS = ("moons_initialization", "mnist_schemes", "constant_init_symmetry",
               "deep_activation_statistics", "finite_width_corrections",
               "trainability_phase_diagram", "batchnorm_vs_initialization", "deep_plain_networks",
               "mup_transfer", "coord_check", "depth_transfer", "grokking_init_scale",
               "dynamical_isometry", "mup_transformer", "transformer_depth")
"""The experiments, in the order they start."""
RESULTS = Path(__file__).resolve().parent / "results"


def _say(text: str) -> None:
  print(text, file=sys.stderr, flush=True)


def _in_processes(chosen: tuple[str, ...], folders: dict[str, Path], tiny: bool,
                  jobs: int) -> dict[str, int]:
  """Runs ``python -m experiments.<name>`` for each name, ``jobs`` at a time; returns exit codes."""
  waiting, running, codes = list(chosen), {}, {}
  while waiting or running:
    while waiting and len(running) < jobs:
      name = waiting.pop(0)
      folders[name].parent.mkdir(parents=True, exist_ok=True)
      log = open(folders[name].parent / f"{folders[name].name}.log", "w")  # noqa: SIM115
      argv = [sys.executable, "-m", f"experiments.{name}", *(["--tiny"] if tiny else []),
              "--out", str(folders[name])]
      running[name] = (subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), log,
                       time.perf_counter())
      _say(f"[{len(codes) + len(running)}/{len(chosen)}] {name} started -> {folders[name]}")
    time.sleep(0.2)
    for name, (proc, log, t) in list(running.items()):
      if proc.poll() is not None:
        log.close()
        codes[name] = proc.returncode
        del running[name]
        state = "done" if proc.returncode == 0 else f"failed (exit {proc.returncode}; see {log.name})"
        _say(f"{name} {state} in {time.perf_counter() - t:.1f} s")
  return codes


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--tiny", action="store_true", help="the seconds-long version of each")
  p.add_argument("--out", default="runs", help="the experiments' parent folder (default runs)")
  p.add_argument("--only", help=f"comma-separated names; known: {', '.join(EXPERIMENTS)}")
  p.add_argument("--jobs", type=int, default=1, help="experiments run at once (default 1)")
  p.add_argument("--publish", action="store_true",
                 help="copy each one's paper outputs into experiments/results/<name>/")
  args = p.parse_args(argv)
  chosen = EXPERIMENTS if not args.only else tuple(args.only.split(","))
  unknown = sorted(set(chosen) - set(EXPERIMENTS))
  if unknown:
    p.error(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENTS)}")
  if args.publish and args.tiny:
    p.error("--publish copies full-size results; it cannot be used with --tiny")
  if args.jobs < 1:
    p.error(f"--jobs {args.jobs}: accepted: 1 or more")
  if args.publish:
    _, dirty = provenance.source_state()
    if dirty is not False:
      p.error("--publish needs a clean git checkout (published results name the commit that "
              f"made them); {'commit your changes' if dirty else 'run from a git checkout'} first")
  folders = {name: Path(args.out) / f"{name}{'-tiny' if args.tiny else ''}" for name in chosen}
  t_all = time.perf_counter()
  if args.jobs > 1:
    codes = _in_processes(chosen, folders, args.tiny, args.jobs)
  else:
    codes = {}
    for i, name in enumerate(chosen, 1):
      _say(f"[{i}/{len(chosen)}] {name} -> {folders[name]}")
      t = time.perf_counter()
      module = importlib.import_module(f"experiments.{name}")
      codes[name] = gallery.guarded(module.main, [*(["--tiny"] if args.tiny else []), "--out",
                                                  str(folders[name])])
      _say(f"[{i}/{len(chosen)}] {name} {'done' if codes[name] == 0 else 'failed'} in "
           f"{time.perf_counter() - t:.1f} s")
      if codes[name]:
        break
  failed = [name for name, code in codes.items() if code]
  if failed:
    _say(f"failed: {', '.join(failed)}")
    return 1
  if args.publish:
    for name in chosen:
      gallery.publish(folders[name], RESULTS / name)
  _say(f"all {len(chosen)} done in {time.perf_counter() - t_all:.1f} s")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
