"""Deep plain networks: do critical, LSUV and MetaInit initialization make them trainable?

A plain (no BatchNorm, no residual) tanh or ReLU MLP of width 32 and depth 10 to 30 on two moons,
trained for 10 epochs (SGD + momentum 0.9, lr 0.01, batch 32) from: the critical point of its
activation (``critical(act)``, Poole et al. 2016, Schoenholz et al. 2017), LSUV (Mishkin & Matas
2016), MetaInit (Dauphin & Schoenholz 2019) from ``lecun_normal`` and from ``N(0, 0.01)``, and
``N(0, 0.01)`` itself, 16 seeds each, one population (one compiled program) per (activation, depth).

Writes ``accuracy.{md,tex,csv}`` (test accuracy per activation x depth x scheme: mean, std and 95% CI
over seeds), ``accuracy_vs_depth.{png,pdf}``, ``init_time.md`` (initialization wall time per
member, compile excluded) and ``summary.json``; each population's sweep is in ``stages/``.

    python -m experiments.deep_plain_networks            # about 10 min on a 2-core CPU
    python -m experiments.deep_plain_networks --tiny     # seconds, for tests

Interrupted? Rerun the same command: finished populations are read back, and one cut short resumes
from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from jaxinit import data, results
from jaxinit.engine import population
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import plots, tables
from jaxinit.studies import gallery, sweep

NAME = "deep_plain_networks"


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
  """The population of one (activation, depth): every scheme x seed."""
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
    out[members[0].scheme] = min(times) / len(members)
  return out


def _figure(rows: list[dict], cfg: Config) -> Figure:
  """Test accuracy vs depth, one panel per activation, one series per scheme (mean and 95% CI)."""
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(5.0 * len(cfg.activations), 3.8), layout="constrained")
    for i, act in enumerate(cfg.activations):
      ax = fig.add_subplot(1, len(cfg.activations), i + 1)
      mine = [r for r in rows if r["activation"] == act]
      for j, scheme in enumerate(dict.fromkeys(r["scheme"] for r in mine)):
        pts = sorted((r["depth"], r["test_acc_mean"], r["test_acc_ci95"]) for r in mine
                     if r["scheme"] == scheme)
        d, m, ci = (np.array(v, float) for v in zip(*pts, strict=True))
        ax.errorbar(d + 0.4 * (j - 2), 100 * m, yerr=100 * np.nan_to_num(ci), marker="o", ms=4,
                    capsize=2, color=f"C{j}", label=_short(scheme).replace(f"({act})", "(act)"))
      ax.set_xlabel("depth (hidden layers)")
      ax.set_ylabel("test accuracy (%)")
      ax.set_title(act)
      ax.set_xticks(cfg.depths)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=3)
  return fig


def _short(scheme: str) -> str:
  """``metainit(steps=50, ..., base=X)`` as ``metainit(base=X)``; others unchanged."""
  if scheme.startswith("metainit("):
    return f"metainit(base={scheme.split('base=', 1)[1]}" if "base=" in scheme else "metainit"
  if scheme.startswith("lsuv("):
    return "lsuv"
  return scheme


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  rows: list[dict] = []
  init_rows: list[list[str]] = []
  for act in cfg.activations:
    for depth in cfg.depths:
      config = sweep_config(cfg, act, depth)
      result = out.sweep(f"{act}-depth{depth}", config, figures=False)
      rows += [{"activation": act, "depth": depth, **row} for row in result.table]
      init_s = out.cached(f"{act}-depth{depth}-init-time", config.to_json(),
                          lambda c=config: {k: np.array(v)
                                            for k, v in init_seconds_per_member(c).items()})
      init_rows += [[act, str(depth), _short(s), f"{1e3 * float(v):.2f}"] for s, v in init_s.items()]
  setting = sweep.setting(config)
  out.table(rows, "accuracy", by=("activation", "depth", "scheme"), metrics=("test_acc",),
            setting=f"Plain MLPs of width {cfg.width} on two moons. {setting}")
  (out.folder / "init_time.md").write_text(tables.markdown(
      ["activation", "depth", "scheme", "init ms per member"], init_rows,
      "Initialization wall time per member (best of 3 calls of the whole population, compile "
      "excluded), milliseconds.", left=3))
  out.figure(_figure(rows, cfg), "accuracy_vs_depth",
             f"Test accuracy after {cfg.epochs} epochs: mean over {cfg.seeds} seeds, bars the 95% "
             "CI of the mean (Student t). Points of one depth are spread sideways to be seen.")
  headline = {f"{r['activation']}/depth{r['depth']}/{_short(r['scheme'])}": r["test_acc_mean"]
              for r in rows}
  out.summary({"test_acc_mean": headline})
  print(results.to_markdown(rows, ("test_acc",), ("activation", "depth", "scheme"),
                            spread="std_ci95"))
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
