"""A long full-batch run through ``jaxinit sweep`` against the same training through the Python API.

The setting of issue 14, item 5: the moons network 2-12-6-1 (ReLU, sigmoid output), 32 members
(he_normal, seeds 0..31), plain gradient descent at lr 0.01, full batch, 15,000 steps (one step per
epoch). Timed in one process, each the fastest of ``--repeats`` runs after a warm-up that compiles
every program (so no row pays a compile):

* ``api eval_every=1``: ``for _ in jaxinit.engine.train.run(...)`` with an evaluation after every epoch,
  no records (the per-epoch loop a notebook would write);
* ``api eval_every=N``: the same loop evaluating every N epochs;
* ``sweep eval_every=N``: :func:`jaxinit.studies.sweep.run` (records fsynced at every evaluation,
  checkpoints, run.json, tables; quiet, no figures) into a fresh folder, the same training;
* ``sweep eval_every=1``: the sweep recording every epoch.

The sweep's times include everything it does besides training (loading the data, drawing the
members, records, checkpoints, tables). The issue's bar: the sweep at most 1.5x the API loop.

Run by hand; it writes ``<out>/long_runs_<device>.json`` and ``.md``::

  python benchmarks/long_runs.py                 # 15,000 steps, eval every 100 and 1000
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import jax

from jaxinit import data, results
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.studies import sweep


def config(steps: int, eval_every: int, members: int) -> sweep.SweepConfig:
  train = tr.TrainConfig(epochs=steps, batch_size=None, optimizer="sgd", eval_every=eval_every)
  return sweep.SweepConfig(data="moons", model=models.ModelConfig(), train=train,
                           schemes=("he_normal",), seeds=tuple(range(members)), lrs=(0.01,))


def api_seconds(cfg: sweep.SweepConfig) -> float:
  """The Python API loop: members drawn, trained, every evaluation's metrics on the host."""
  start = time.perf_counter()
  device = tr.device_data(data.load(cfg.data, seed=cfg.data_seed))
  for _ in tr.run(cfg.model, cfg.train, cfg.members(), device):
    pass
  return time.perf_counter() - start


def sweep_seconds(cfg: sweep.SweepConfig) -> float:
  folder = Path(tempfile.mkdtemp(prefix="jaxinit-long-run-"))
  try:
    start = time.perf_counter()
    sweep.run(cfg, folder / "run", quiet=True, figures=False)
    return time.perf_counter() - start
  finally:
    shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--steps", type=int, default=15000)
  parser.add_argument("--members", type=int, default=32)
  parser.add_argument("--eval-every", default="100,1000", help="comma-separated N")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
  args = parser.parse_args()
  every = [int(n) for n in args.eval_every.split(",")]
  for n in (1, *every):  # compile every program (the ones of eval_every=1 serve every N)
    api_seconds(config(2 * n, n, args.members))
    sweep_seconds(config(2 * n, n, args.members))
  rows = []
  for label, fn, n in ([("api", api_seconds, 1)]
                       + [(kind, fn, n) for n in every
                          for kind, fn in (("api", api_seconds), ("sweep", sweep_seconds))]
                       + [("sweep", sweep_seconds, 1)]):
    times = [fn(config(args.steps, n, args.members)) for _ in range(args.repeats)]
    rows.append({"path": label, "eval_every": n, "seconds": min(times), "all_seconds": times})
    print(f"{label} eval_every={n}: {min(times):.2f} s", flush=True)
  base = {r["eval_every"]: r["seconds"] for r in rows if r["path"] == "api"}
  for r in rows:
    r["vs_api_same_eval_every"] = r["seconds"] / base[r["eval_every"]]
    r["vs_api_eval_every_1"] = r["seconds"] / base[1]
  device = jax.devices()[0]
  meta = {"steps": args.steps, "members": args.members, "repeats": args.repeats,
          "device": f"{device.platform}: {device.device_kind}",
          "environment": results.environment(), "rows": rows}
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  stem = out / f"long_runs_{device.platform}"
  stem.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
  lines = [f"{args.steps} full-batch steps, {args.members} members (moons 2-12-6-1, sgd lr 0.01), "
           f"{meta['device']}; fastest of {args.repeats} runs, compile excluded.", "",
           "| path | eval_every | seconds | / api (same eval_every) | / api (eval_every=1) |",
           "|:---|---:|---:|---:|---:|"]
  lines += [f"| {r['path']} | {r['eval_every']} | {r['seconds']:.2f} | "
            f"{r['vs_api_same_eval_every']:.2f} | {r['vs_api_eval_every_1']:.2f} |" for r in rows]
  stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
