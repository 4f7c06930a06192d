"""Deep plain networks: do critical, LSUV and MetaInit initialization make them trainable?

A plain (no BatchNorm, no residual) tanh or ReLU MLP of depth 10 to 30 on two moons, trained for a
few epochs from: the critical point of its activation (``critical(act)``), LSUV, MetaInit from
``lecun_normal`` and from ``N(0, 0.01)``, and ``N(0, 0.01)`` itself, across seeds in one population
per (activation, depth). Writes one sweep folder per (activation, depth) and ``summary.md``: test
accuracy (mean +- std over seeds) per scheme x depth, and the init wall time per member.

    python experiments/deep_plain_networks.py --out runs/deep-plain            # about 10 min, 2-core CPU
    python experiments/deep_plain_networks.py --tiny --out /tmp/deep-plain     # seconds, for tests

Interrupted? Rerun the same command: finished (activation, depth) runs are kept, and a run cut
short resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import jax

from jaxinit import data, models, names, population, results, sweep
from jaxinit import train as tr


@dataclasses.dataclass(frozen=True)
class Config:
  """The study. ``schemes`` may use ``{act}`` for the activation."""

  activations: tuple[str, ...] = ("tanh", "relu")
  depths: tuple[int, ...] = (10, 20, 30)
  width: int = 32
  seeds: int = 16
  epochs: int = 10
  batch_size: int = 32
  lr: float = 0.01
  schemes: tuple[str, ...] = ("critical({act})", "lsuv", "metainit",
                              "metainit(base=normal(stddev=0.01))", "normal(stddev=0.01)")


TINY = Config(activations=("tanh",), depths=(4,), width=8, seeds=2, epochs=1,
              schemes=("critical({act})", "lsuv", "metainit(steps=2)", "normal(stddev=0.01)"))


def sweep_config(cfg: Config, act: str, depth: int) -> sweep.SweepConfig:
  return sweep.SweepConfig(
      data="moons", model=models.ModelConfig(widths=(cfg.width,) * depth + (1,), activation=act),
      train=tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size),
      schemes=tuple(s.format(act=act) for s in cfg.schemes), seeds=tuple(range(cfg.seeds)),
      lrs=(cfg.lr,))


def init_seconds_per_member(config: sweep.SweepConfig) -> dict[str, float]:
  """Each scheme's initialization of all seeds, compiled first, then timed (best of 3), per member."""
  x_train = data.load(config.data, seed=config.data_seed).x_train
  out = {}
  for scheme in config.schemes:
    members = population.grid([scheme], config.seeds)
    run = lambda m=members: jax.block_until_ready(population.init_params(
        config.model, m, x_train.shape[1:], population.init_batch(x_train)))
    run()
    times = []
    for _ in range(3):
      t = time.perf_counter()
      run()
      times.append(time.perf_counter() - t)
    out[population.Member(scheme, 0).scheme] = min(times) / len(members)
  return out


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default="runs/deep-plain", help="output folder")
  parser.add_argument("--tiny", action="store_true", help="a seconds-long version for tests")
  parser.add_argument("--depths", help="comma-separated depths (default 10,20,30)")
  parser.add_argument("--activations", help="comma-separated activations (default tanh,relu)")
  args = parser.parse_args(argv)
  cfg = TINY if args.tiny else Config()
  if args.depths:
    cfg = dataclasses.replace(cfg, depths=tuple(int(d) for d in args.depths.split(",")))
  if args.activations:
    cfg = dataclasses.replace(cfg, activations=tuple(names.split_list(args.activations)))
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  lines = [f"# Deep plain networks on two moons ({json.dumps(dataclasses.asdict(cfg))})", ""]
  for act in cfg.activations:
    accuracy: dict[str, dict[int, str]] = {}
    init_s: dict[str, dict[int, float]] = {}
    for depth in cfg.depths:
      config = sweep_config(cfg, act, depth)
      folder = out / f"{act}-depth{depth}"
      record = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
      if record.get("status") != "finished":
        record = sweep.run(config, folder, resume=(folder / "run.json").exists(), quiet=True,
                           figures=False).record
      for row in record["table"]:
        diverged = f" ({row['n_diverged']} diverged)" if row["n_diverged"] else ""
        accuracy.setdefault(row["scheme"], {})[depth] = (
            f"{100 * row['test_acc_mean']:.1f} ± {100 * row['test_acc_std']:.1f}{diverged}")
      for scheme, seconds in init_seconds_per_member(config).items():
        init_s.setdefault(scheme, {})[depth] = seconds
      print(f"{act} depth {depth}: done", file=sys.stderr)
    header = "| scheme | " + " | ".join(f"depth {d}" for d in cfg.depths) + " |"
    rule = "|:--|" + "--:|" * len(cfg.depths)
    lines += [f"## {act}: test accuracy (%), mean ± std over {cfg.seeds} seeds", "", header, rule]
    lines += [f"| {s} | " + " | ".join(accuracy[s][d] for d in cfg.depths) + " |" for s in accuracy]
    lines += ["", f"## {act}: init wall time per member (ms, compile excluded)", "", header, rule]
    lines += [f"| {s} | " + " | ".join(f"{1e3 * init_s[s][d]:.2f}" for d in cfg.depths) + " |"
              for s in init_s]
    lines.append("")
  summary = "\n".join(lines)
  (out / "summary.md").write_text(summary)
  results.write_json(out / "environment.json", results.environment())
  print(summary)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
