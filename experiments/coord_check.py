"""The coordinate check: SP against muP (and NTK) for one MLP, with Adam and with SGD.

Source: Yang et al. 2022, "Tensor Programs V", §6 and Fig. 5 (and microsoft/mup's ``coord_check``):
train networks of growing width for a few steps and plot the typical size of each layer's
activations; a parametrization that admits a feature-learning limit keeps every layer's change
Theta(1) in width (muP), while SP's hidden and output changes grow like the width with Adam, and
NTK's input and hidden changes shrink like 1/sqrt(width) while its output's stays Theta(1) (the
lazy, kernel regime).

Setup: a ReLU MLP with three hidden layers (784 -> n -> n -> n -> 10), widths 64 .. 2048,
``he_normal`` draws, 4 seeds per width, 5 full-batch steps on one fixed batch of 64 MNIST training
images (standard inputs): Adam at lr 2^-8 and plain SGD at lr 2^-3 (the base width's best learning
rates in ``mup_transfer``), under ``sp``, ``ntk(base_width=64)`` and ``mup(base_width=64)``, and
muP with a zero readout (``muP0``: microsoft/mup's ``readout_zero_init``, so that every width
starts from the same zero logits). After
every step, each layer's preactivation on the batch: the RMS of its coordinates (size) and of its
change since initialization (change) (:mod:`jaxinit.studies.coordcheck`).

Writes ``slopes.md`` (the log-log slope against width of every layer's change after the first and
the last step and of its size at initialization, with their spread over seeds), ``slopes.csv``
(every measure at every step), ``coord_check_<optimizer>.{png,pdf}`` (the change at every step, a
row per parametrization) and ``summary.json``.

    JAXINIT_DATA_DIR=/work/shared/datasets python -m experiments.coord_check  # ~3 min on 2 CPU cores
    python -m experiments.coord_check --tiny                                    # seconds, moons
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxinit import data
from jaxinit.nets import models
from jaxinit.results import plots, tables
from jaxinit.studies import coordcheck, gallery

NAME = "coord_check"


@dataclasses.dataclass(frozen=True)
class Config:
  """The check.

  Attributes:
    data: the dataset; its first ``batch`` training examples are the fixed batch.
    hidden_layers: hidden layers of one width.
    widths: the hidden widths; the first is the base width.
    parametrizations: compared; ``{base}`` is the first width. A name followed by ``+zero_readout``
      draws the readout kernel as 0 (microsoft/mup's ``readout_zero_init``), the rest with
      ``scheme``.
    optimizers: ``(name, lr)`` pairs.
    steps, batch, seeds, scheme: as :class:`jaxinit.studies.coordcheck.CoordCheckConfig`.
  """

  data: str = "mnist"
  hidden_layers: int = 3
  widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
  parametrizations: tuple[str, ...] = ("sp", "ntk(base_width={base})", "mup(base_width={base})",
                                       "mup(base_width={base})+zero_readout")
  optimizers: tuple[tuple[str, float], ...] = (("adam", 2.0 ** -8), ("sgd", 2.0 ** -3))
  steps: int = 5
  batch: int = 64
  seeds: int = 4
  scheme: str = "he_normal"


TINY = Config(data="moons", hidden_layers=2, widths=(16, 64),
              parametrizations=("sp", "mup(base_width={base})"), optimizers=(("adam", 0.01),),
              steps=2, seeds=2)


def check_config(cfg: Config, parametrization: str, optimizer: str, lr: float
                 ) -> coordcheck.CoordCheckConfig:
  base = cfg.widths[0]
  readout = data.num_outputs(cfg.data)
  name, _, variant = parametrization.partition("+")
  model = models.ModelConfig(widths=(base,) * cfg.hidden_layers + (readout,),
                             parametrization=name.format(base=base))
  scheme = cfg.scheme
  if variant == "zero_readout":
    scheme = f"layers({', '.join([cfg.scheme] * cfg.hidden_layers)}, zeros)"
  elif variant:
    raise ValueError(f"unknown variant {variant!r} of {parametrization!r}; accepted: zero_readout")
  return coordcheck.CoordCheckConfig(model=model, widths=cfg.widths, data=cfg.data,
                                     optimizer=optimizer, lr=lr, steps=cfg.steps, batch=cfg.batch,
                                     seeds=tuple(range(cfg.seeds)), scheme=scheme)


LABELS = {"sp": "SP", "ntk": "NTK", "mup": "muP", "mean_field": "MF"}


def label(parametrization: str) -> str:
  """The short name of a parametrization (``"mup(base_width={base})"`` -> ``"muP"``; with
  ``+zero_readout``, ``"muP0"``)."""
  name, _, variant = parametrization.partition("+")
  return LABELS[name.split("(")[0]] + ("0" if variant else "")


def measured(out: gallery.Output, config: coordcheck.CoordCheckConfig, stage: str
             ) -> coordcheck.CoordCheck:
  """The check, computed once and then read from ``stages/<stage>.npz``."""
  def compute() -> dict[str, np.ndarray]:
    c = coordcheck.run(config)
    return {"size_WSTL": c.size_WSTL, "change_WSTL": c.change_WSTL, "loss_WST": c.loss_WST}
  arrays = out.cached(stage, dataclasses.asdict(config), compute)
  return coordcheck.CoordCheck(config, arrays["size_WSTL"], arrays["change_WSTL"],
                               arrays["loss_WST"])


def _cell(slope: float, spread: float) -> str:
  """A slope and its spread, or ``-`` where there was nothing to fit (a quantity 0 at every
  width)."""
  return f"{slope:+.2f} ({spread:.2f})" if np.isfinite(slope) else "-"


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  rows: list[dict[str, Any]] = []  # every step: the CSV
  body: list[list[str]] = []  # steps 1 and T: the Markdown
  headline: dict[str, Any] = {"change_slope_step1": {}, "change_slope_last": {},
                              "size_slope_init": {}}
  for opt, lr in cfg.optimizers:
    checks = {}
    for p in cfg.parametrizations:
      check = measured(out, check_config(cfg, p, opt, lr), f"{opt}-{label(p)}")
      checks[label(p)] = check
      key = f"{opt}/{label(p)}"
      rows += [{"optimizer": opt, "parametrization": r["check"],
                **{k: v for k, v in r.items() if k != "check"}}
               for r in coordcheck.slope_rows({label(p): check})]
      change, change_spread = check.slopes("change")
      size, size_spread = check.slopes("size")
      headline["change_slope_step1"][key] = [round(float(v), 3) for v in change[1]]
      headline["change_slope_last"][key] = [round(float(v), 3) for v in change[-1]]
      headline["size_slope_init"][key] = [round(float(v), 3) for v in size[0]]
      body += [[opt, label(p), str(i), *(_cell(a[t, i], b[t, i]) for a, b, t in (
          (change, change_spread, 1), (change, change_spread, -1), (size, size_spread, 0)))]
               for i in range(check.layers)]
    out.figure(plots.coord_check(checks, "change"), f"coord_check_{opt}",
               f"RMS of each layer's preactivation change z_t - z_0 on a fixed batch of "
               f"{cfg.batch} {cfg.data} examples against the hidden width, after each of "
               f"{cfg.steps} full-batch {opt} steps at lr {lr:g} (the base width's), mean over "
               f"{cfg.seeds} seeds; a row per parametrization (muP0: muP with a zero readout), "
               "the legend giving each layer's "
               "log-log slope (0: width-stable, 1: growing like the width). Layer 0 is the input "
               f"layer, layer {cfg.hidden_layers} the readout.")
  caption = (f"Log-log slope against the hidden width ({', '.join(map(str, cfg.widths))}) of the RMS "
             f"of each layer's preactivation change since initialization after step 1 and step "
             f"{cfg.steps}, and of its size at initialization; in parentheses the std of the "
             f"per-seed slopes over {cfg.seeds} seeds (slopes.csv has every step). MLP with "
             f"{cfg.hidden_layers} hidden ReLU layers, {cfg.scheme}, one fixed batch of "
             f"{cfg.batch} {cfg.data} examples; layer {cfg.hidden_layers} is the readout. -: "
             "nothing to fit, the quantity being 0 at every width (a zero readout sends no "
             "gradient back at the first step, and its logits start at 0).")
  (out.folder / "slopes.md").write_text(tables.markdown(
      ["optimizer", "parametrization", "layer", "change, step 1", f"change, step {cfg.steps}",
       "size at init"], body, caption, left=3))
  (out.folder / "slopes.csv").write_text(tables.to_csv(rows))
  out.summary(headline)
  print((out.folder / "slopes.md").read_text(), end="")
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
