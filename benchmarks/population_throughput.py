"""Per-member training time of a vmapped population against the same members trained one by one.

For each model (the moons MLP 2-12-6-1 and the MNIST MLP 784-128-64-10) and each population size M,
trains M members (he_normal, seeds 0..M-1, SGD + momentum) with jaxinit's population trainer, and,
in the same run, members trained one by one with the same compiled single-model trainer
(``jaxinit.train.train_one``). Reports the steady-state per-member time of both (the fastest of
``--repeats`` runs; compile excluded: each program is warmed up first, and its compile time
reported apart), their ratio, and the
achieved FLOP/s (analytic count: 6 x MACs per training example, 2 x MACs per evaluated example).

Run by hand; it writes ``<out>/population_throughput_<device>.json`` and ``.md``::

  python benchmarks/population_throughput.py                       # CPU defaults (MNIST subset)
  python benchmarks/population_throughput.py --mnist-train 60000 --epochs 5 \\
      --sizes 1,8,64,256,1024 --one-by-one 8                       # the GPU setting

MNIST is read from ``--data-dir`` or ``$JAXINIT_DATA_DIR``; without it only the moons model runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path

import jax

from jaxinit import data, models, results
from jaxinit import population as pop
from jaxinit import train as tr


def macs_per_example(widths: tuple[int, ...], inputs: int) -> int:
  dims = (inputs, *widths)
  return sum(a * b for a, b in itertools.pairwise(dims))


def run_population(model_cfg: models.ModelConfig, cfg: tr.TrainConfig, members: list,
                   d: tr.DeviceData) -> float:
  """Seconds to train ``members`` for ``cfg.epochs`` epochs (init included, compile not)."""
  start = time.perf_counter()
  state = None
  for _, state, _ in tr.run(model_cfg, cfg, members, d):  # noqa: B007
    pass
  jax.block_until_ready(state)
  return time.perf_counter() - start


def run_one_by_one(model_cfg: models.ModelConfig, cfg: tr.TrainConfig, members: list,
                   d: tr.DeviceData) -> float:
  start = time.perf_counter()
  for m in members:
    state, _ = tr.train_one(model_cfg, cfg, m, d)
    jax.block_until_ready(state)
  return time.perf_counter() - start


def bench(name: str, model_cfg: models.ModelConfig, cfg: tr.TrainConfig, dataset: data.Dataset,
          sizes: list[int], one_by_one: int, repeats: int) -> list[dict]:
  d = tr.device_data(dataset)
  n_train, n_test = len(dataset.y_train), len(dataset.y_test)
  inputs = math.prod(dataset.feature_shape)
  macs = macs_per_example(model_cfg.widths, inputs)
  steps = 1 if cfg.batch_size is None else n_train // cfg.batch_size
  batch = n_train if cfg.batch_size is None else cfg.batch_size
  flops_member = cfg.epochs * (6 * macs * steps * batch + 2 * macs * (n_train + n_test))
  warm = dataclasses.replace(cfg, epochs=1)

  # The one-by-one baseline: compile once, then time `one_by_one` members.
  t = time.perf_counter()
  run_one_by_one(model_cfg, cfg, [pop.Member("he_normal", 0)], d)
  single_first = time.perf_counter() - t
  single = list(pop.grid(["he_normal"], range(one_by_one)))
  single_s = min(run_one_by_one(model_cfg, cfg, single, d) for _ in range(repeats)) / one_by_one
  rows = []
  for m in sizes:
    members = list(pop.grid(["he_normal"], range(m)))
    t = time.perf_counter()
    run_population(model_cfg, warm, members, d)  # compiles this M
    first = time.perf_counter() - t
    traces = tr.trace_count()
    total = min(run_population(model_cfg, cfg, members, d) for _ in range(repeats))
    assert tr.trace_count() == traces, "the timed run recompiled"
    per_member = total / m
    rows.append({
        "model": name, "M": m, "epochs": cfg.epochs, "n_train": n_train,
        "population_s": total, "per_member_ms": 1e3 * per_member,
        "one_by_one_per_member_ms": 1e3 * single_s, "speedup_vs_one_by_one": single_s / per_member,
        "compile_s": max(first - total / cfg.epochs, 0.0),
        "single_compile_s": max(single_first - single_s, 0.0),
        "achieved_gflops": flops_member * m / total / 1e9,
        "params_per_member": int(sum(x.size for x in jax.tree.leaves(
            pop.init_params(model_cfg, members[:1], dataset.feature_shape)["params"]))),
    })
    r = rows[-1]
    print(f"{name:6s} M={m:5d}  {r['per_member_ms']:9.3f} ms/member  one-by-one "
          f"{r['one_by_one_per_member_ms']:9.3f} ms  x{r['speedup_vs_one_by_one']:6.2f}  "
          f"{r['achieved_gflops']:7.2f} GFLOP/s  compile {r['compile_s']:.2f} s", file=sys.stderr)
  return rows


def markdown(rows: list[dict], env: dict) -> str:
  head = (f"Device: {env['backend']} {env['device_kinds'][0]}; jax {env['jax']}; "
          f"{env['timestamp']}\n\n| model | M | epochs | train examples | per member (ms) | "
          "one by one (ms) | speed-up | GFLOP/s | compile (s) |\n|:---|---:|---:|---:|---:|---:|---:|"
          "---:|---:|\n")
  return head + "".join(
      f"| {r['model']} | {r['M']} | {r['epochs']} | {r['n_train']} | {r['per_member_ms']:.3f} | "
      f"{r['one_by_one_per_member_ms']:.3f} | {r['speedup_vs_one_by_one']:.2f}x | "
      f"{r['achieved_gflops']:.2f} | {r['compile_s']:.2f} |\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sizes", default="1,8,64,256,1024")
  p.add_argument("--models", default="moons,mnist")
  p.add_argument("--epochs", type=int, default=1)
  p.add_argument("--moons-epochs", type=int, default=20)
  p.add_argument("--mnist-train", type=int, default=2048, help="MNIST training examples used")
  p.add_argument("--one-by-one", type=int, default=4, help="members timed one by one")
  p.add_argument("--repeats", type=int, default=3, help="timed runs; the fastest is reported")
  p.add_argument("--data-dir", default=os.environ.get("JAXINIT_DATA_DIR"))
  p.add_argument("--out", default=str(Path(__file__).parent / "results"))
  args = p.parse_args(argv)
  sizes = [int(s) for s in args.sizes.split(",")]
  rows = []
  for name in args.models.split(","):
    if name == "moons":
      rows += bench("moons", models.ModelConfig(), tr.TrainConfig(epochs=args.moons_epochs,
                                                                  batch_size=32),
                    data.moons(0), sizes, args.one_by_one, args.repeats)
    elif name == "mnist":
      if not args.data_dir:
        print("skipping mnist: no --data-dir or JAXINIT_DATA_DIR", file=sys.stderr)
        continue
      mnist = data.mnist(args.data_dir)
      mnist = mnist.subset(min(args.mnist_train, 60000), 10000)
      rows += bench("mnist", models.ModelConfig(widths=(128, 64, 10)),
                    tr.TrainConfig(epochs=args.epochs, batch_size=128), mnist, sizes,
                    args.one_by_one, args.repeats)
    else:
      raise SystemExit(f"unknown model {name!r}; accepted: moons, mnist")
  env = results.environment()
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  stem = f"population_throughput_{env['backend']}"
  results.write_json(out / f"{stem}.json", {"environment": env, "args": vars(args), "rows": rows})
  (out / f"{stem}.md").write_text(markdown(rows, env))
  print(json.dumps({"written": str(out / f"{stem}.md")}))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
