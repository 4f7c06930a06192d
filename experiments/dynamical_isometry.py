"""Dynamical isometry: the input-output Jacobian's spectrum at criticality, and what it does to training.

Sources: Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep learning through
dynamical isometry" (eqs. 13-17): at criticality (chi = 1) the eigenvalues of J J^T have mean 1 and
variance L (mu2/mu1^2 - 1 - s1), so orthogonal tanh networks near K* = 0 stay isometric at any depth
while Gaussian ones and every ReLU network spread linearly in depth. Xiao et al. 2018, "Dynamical
Isometry and a Mean Field Theory of CNNs": the delta-orthogonal kernel carries this to convolutions,
and vanilla tanh CNNs so initialized train at depths where Gaussian ones slow down.

Setup. (1) MLPs of width 256 at depths 2 .. 128: tanh on its critical line at the fixed point
K* = 1/64 (C_W = 1 / <tanh'^2>_{K*}, C_b = K* - C_W <tanh^2>_{K*}) and ReLU (C_W = 2, C_b = 0), each with
Gaussian and orthogonal weights; 16 networks per cell, the Jacobian at one input with |x|^2/n = K*
(:func:`jaxinit.theory.isometry.random_jacobian_singular_values`); the eigenvalues' mean and variance
against :func:`jaxinit.theory.isometry.jacobian_spectrum_moments`. (2) Vanilla tanh CNNs
(:class:`jaxinit.nets.convnets.DeepCNN`, 16 channels, 8 x 8 inputs, circular padding as in Xiao et
al.'s theory, no downsampling) at
the same (C_W, C_b), Gaussian against delta-orthogonal kernels, 4 networks per depth: the Jacobian of
the last layer's activations at one input. (3) Training: critical tanh MLPs of width 256 at depths 8 ..
128 (Gaussian against orthogonal kernels) on 4,096 MNIST images at two learning rates, and DeepCNNs
(16 channels, two stride-2 convolutions, then ``depth`` convolutions; Gaussian against
delta-orthogonal) at depths 4 and 16 on 1,024 images at one, as deep and as long as a CNN trains on
this CPU in minutes; SGD with momentum 0.9, 5 epochs, 3 seeds per cell: the training accuracy per
epoch.

Writes ``spectrum.{md,tex,csv}`` (per network, weights and depth: the eigenvalues' mean and variance,
mean ± 95% CI over networks, with the theory), ``training.{md,tex,csv}``, ``spectra.{png,pdf}``,
``spectrum_moments.{png,pdf}``, ``training.{png,pdf}`` and ``summary.json``.

    JAXINIT_DATA_DIR=/path/to/datasets python -m experiments.dynamical_isometry
    JAXINIT_DATA_DIR=/path/to/datasets python -m experiments.dynamical_isometry --tiny

Interrupted? Rerun: finished stages are read back.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from jaxinit import theory
from jaxinit.engine import population
from jaxinit.engine import train as tr
from jaxinit.nets import models, protocol
from jaxinit.results import plots, stats
from jaxinit.studies import gallery, sweep
from jaxinit.theory import isometry

NAME = "dynamical_isometry"
CNN = "jaxinit.nets.convnets:DeepCNN"


@dataclasses.dataclass(frozen=True)
class Config:
  """The study.

  Attributes:
    K_star: tanh's fixed point on its critical line.
    width, depths, networks: the MLPs' width, depths and networks per cell.
    cnn_channels, cnn_size, cnn_depths, cnn_networks: the spectrum CNNs (channels, input side,
      convolutions, networks per cell).
    data, train_width, train_depths, seeds, epochs, batch_size, lrs, momentum: the training of
      tanh MLPs; every learning rate and seed of a (depth, init) in one program.
    cnn_data, train_channels, train_cnn_depths, cnn_lrs: the DeepCNNs' (smaller: a CNN trains
      member by member on this CPU).
  """

  K_star: float = 1 / 64
  width: int = 256
  depths: tuple[int, ...] = (2, 8, 32, 128)
  networks: int = 16
  cnn_channels: int = 16
  cnn_size: int = 8
  cnn_depths: tuple[int, ...] = (2, 8, 32)
  cnn_networks: int = 4
  data: str = "mnist(n_train=4096, n_test=1024)"
  train_width: int = 256
  train_depths: tuple[int, ...] = (8, 32, 128)
  cnn_data: str = "mnist(n_train=1024, n_test=512)"
  train_channels: int = 16
  train_cnn_depths: tuple[int, ...] = (4, 16)
  cnn_lrs: tuple[float, ...] = (0.01,)
  seeds: int = 3
  epochs: int = 5
  batch_size: int = 128
  lrs: tuple[float, ...] = (0.01, 0.05)
  momentum: float = 0.9


TINY = Config(width=32, depths=(2, 8), networks=4, cnn_channels=4, cnn_size=4, cnn_depths=(2, 4),
              cnn_networks=2, data="mnist(n_train=512, n_test=256)", train_width=32,
              train_depths=(2, 8), cnn_data="mnist(n_train=512, n_test=256)", train_channels=4,
              train_cnn_depths=(2,), cnn_lrs=(0.05,), seeds=2, epochs=2, batch_size=128, lrs=(0.05,))

SPECTRUM_METRICS = ("eig_mean", "eig_var", "theory_mean", "theory_var")
TRAIN_METRICS = ("train_acc", "test_acc", "train_loss")
NETWORKS = (("tanh", "gaussian"), ("tanh", "orthogonal"), ("relu", "gaussian"),
            ("relu", "orthogonal"))


def critical(activation: str, K_star: float) -> tuple[float, float]:
  """``(C_W, C_b)`` on the critical line (chi_perp = 1) whose fixed point is ``K_star``; ReLU's is
  ``(2, 0)`` at every ``K*``."""
  if activation == "relu":
    return 2.0, 0.0
  C_W = 1.0 / float(theory.derivative_moment(activation, K_star))
  return C_W, K_star - C_W * float(theory.second_moment(activation, K_star))


def mlp_spectra(cfg: Config) -> dict[str, np.ndarray]:
  """The eigenvalues of J J^T, ``(networks, width)`` per (activation, weights, depth)."""
  out = {}
  for act, weights in NETWORKS:
    C_W, C_b = critical(act, cfg.K_star)
    x = jnp.full((cfg.width,), math.sqrt(max(cfg.K_star - C_b, 0.0) / C_W), jnp.float32)
    for depth in cfg.depths:
      keys = jax.random.split(jax.random.key(depth), cfg.networks)
      sv = jax.vmap(lambda k, a=act, w=weights, d=depth, cw=C_W, cb=C_b, xx=x: (
          isometry.random_jacobian_singular_values(k, a, (cfg.width,) * d, cw, cb, xx, w)))(keys)
      out[f"mlp/{act}/{weights}/{depth}"] = np.asarray(sv, np.float64) ** 2
  return out


def cnn_rules(C_W: float, C_b: float, weights: str) -> str:
  """The rule set of a DeepCNN at ``(C_W, C_b)``: Gaussian or delta-orthogonal kernels."""
  kernel = (f"delta_orthogonal(gain={math.sqrt(C_W)!r})" if weights == "delta_orthogonal" else
            f"variance_scaling(scale={C_W!r}, mode=fan_in, distribution=normal)")
  return json.dumps({"layer_*/kernel": kernel, "layer_*/bias": f"normal(stddev={math.sqrt(C_b)!r})",
                     "readout/kernel": "glorot_normal", "readout/bias": "zeros"})


def cnn_spectra(cfg: Config) -> dict[str, np.ndarray]:
  """The eigenvalues of J J^T of vanilla tanh CNNs (the last layer's activations against the input),
  ``(networks, size^2 channels)`` per (weights, depth)."""
  C_W, C_b = critical("tanh", cfg.K_star)
  c, s = cfg.cnn_channels, cfg.cnn_size
  x = jax.random.normal(jax.random.key(1), (1, s, s, c)) * math.sqrt((cfg.K_star - C_b) / C_W)
  out = {}
  for depth in cfg.cnn_depths:
    spec = protocol.Spec(CNN, json.dumps({"width": c, "depth": depth - 1, "downsample": 0,
                                          "padding": "CIRCULAR"}))
    model = spec.build(x)
    last = f"layer_{depth - 1}"
    for weights in ("gaussian", "delta_orthogonal"):
      members = [population.Member(cnn_rules(C_W, C_b, weights), seed)
                 for seed in range(cfg.cnn_networks)]
      variables = population.init_params(model, members, x.shape[1:], host=True)

      jac = jax.vmap(lambda v, m=model, k=last: jax.jacfwd(
          lambda xx: jnp.tanh(m.capture(v, xx)[1][k]).ravel())(x).reshape(s * s * c, -1))(variables)
      out[f"cnn/tanh/{weights}/{depth}"] = np.asarray(
          jnp.linalg.svd(jac, compute_uv=False), np.float64) ** 2
  return out


def cells(rows: list[dict[str, Any]], by: tuple[str, ...]) -> dict[tuple, list[dict[str, Any]]]:
  """The rows grouped by the values of ``by``, in first-seen order."""
  out: dict[tuple, list[dict[str, Any]]] = {}
  for r in rows:
    out.setdefault(tuple(r[k] for k in by), []).append(r)
  return out


def spectrum_rows(spectra: dict[str, np.ndarray], cfg: Config) -> list[dict[str, Any]]:
  """One row per network: its eigenvalues' mean and variance, with the theory's."""
  rows = []
  for key, eig in spectra.items():
    net, act, weights, depth = key.split("/")
    C_W, _ = critical(act, cfg.K_star)
    ensemble = "orthogonal" if weights != "gaussian" else "gaussian"
    mean, var = isometry.jacobian_spectrum_moments(act, C_W, cfg.K_star, int(depth), ensemble)
    for i, e in enumerate(eig):
      rows.append({"network": net, "activation": act, "weights": weights, "depth": int(depth),
                   "seed": i, "member": f"{key}/{i}", "epoch": 0,
                   "diverged": not np.isfinite(e).all(), "eig_mean": float(e.mean()),
                   "eig_var": float(e.var()),
                   "theory_mean": float(mean), "theory_var": float(var)})
  return rows


def training_config(cfg: Config, network: str, depth: int, weights: str) -> sweep.SweepConfig:
  """The sweep of one network, depth and init on the MNIST subset: a tanh MLP of ``depth`` hidden
  layers of ``train_width`` (Gaussian or orthogonal kernels), or a DeepCNN (Gaussian or
  delta-orthogonal), all at the critical (C_W, C_b)."""
  C_W, C_b = critical("tanh", cfg.K_star)
  if network == "mlp":
    model: Any = models.ModelConfig(widths=(cfg.train_width,) * depth + (10,), activation="tanh")
    kernel = ("orthogonal" if weights == "orthogonal" else "variance_scaling") + (
        f"(gain={math.sqrt(C_W)!r})" if weights == "orthogonal"
        else f"(scale={C_W!r}, mode=fan_in, distribution=normal)")
    scheme = json.dumps({"layer_*/kernel": kernel,
                         "layer_*/bias": f"normal(stddev={math.sqrt(C_b)!r})"})
  else:
    model = protocol.Spec(CNN, json.dumps({"width": cfg.train_channels, "depth": depth,
                                           "downsample": 2}))
    scheme = cnn_rules(C_W, C_b, weights)
  return sweep.SweepConfig(
      data=cfg.data if network == "mlp" else cfg.cnn_data, model=model,
      train=tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer="momentum",
                           eval_every=1),
      schemes=(scheme,), seeds=tuple(range(cfg.seeds)),
      lrs=cfg.lrs if network == "mlp" else cfg.cnn_lrs, momenta=(cfg.momentum,))


TRAINED = (("mlp", ("gaussian", "orthogonal")), ("cnn", ("gaussian", "delta_orthogonal")))
"""The trained networks and the inits compared on each."""


def spectra_figure(spectra: dict[str, np.ndarray], cfg: Config) -> Figure:
  """The eigenvalue distributions at the deepest MLP and CNN, one panel per network family."""
  panels = [("mlp", "tanh", max(cfg.depths)), ("mlp", "relu", max(cfg.depths)),
            ("cnn", "tanh", max(cfg.cnn_depths))]
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    for ax, (net, act, depth) in zip(fig.subplots(1, 3), panels, strict=True):
      for i, (key, eig) in enumerate((k, v) for k, v in spectra.items()
                                     if k.startswith(f"{net}/{act}/") and k.endswith(f"/{depth}")):
        e = np.log10(np.maximum(eig.ravel(), 1e-30))
        ax.hist(e, bins=60, weights=np.full(e.size, 1 / e.size), histtype="step", lw=1.6,
                color=f"C{i}", label=key.split("/")[2])
      ax.set_xlabel(r"$\log_{10}$ eigenvalue of $J J^\top$")
      ax.set_ylabel("fraction per bin")
      ax.set_title(f"{net.upper()}, {act}, depth {depth}")
      ax.legend(fontsize=8)
  return fig


def moments_figure(rows: list[dict[str, Any]]) -> Figure:
  """The eigenvalues' variance against depth: the mean over networks (points) with the networks'
  interquartile range (bars: positive, so they fit a log axis; a heavy-tailed cell's CI of the
  mean would reach below zero), and the theory (lines)."""
  groups = cells(rows, ("network", "activation", "weights", "depth"))
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    labels = sorted({k[:3] for k in groups})
    for i, label in enumerate(labels):
      depths = sorted(k[3] for k in groups if k[:3] == label)
      group = [np.array([r["eig_var"] for r in groups[(*label, d)]]) for d in depths]
      mean = np.array([g.mean() for g in group])
      q25, q75 = (np.array([np.percentile(g, q) for g in group]) for q in (25, 75))
      shift = 2 ** (0.06 * (i - len(labels) / 2))  # side by side at each depth
      ax.errorbar(np.array(depths) * shift, mean, yerr=[np.maximum(mean - q25, 0),
                                                        np.maximum(q75 - mean, 0)],
                  fmt="o", ms=4, color=f"C{i}", capsize=2, label="/".join(label))
      ax.plot(depths, [groups[(*label, d)][0]["theory_var"] for d in depths], "-", color=f"C{i}",
              lw=1)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel(r"variance of the eigenvalues of $J J^\top$")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
  return fig


def training_figure(rows: list[dict[str, Any]], cfg: Config) -> Figure:
  """Training accuracy per epoch, one panel per network and depth (mean ± std over seeds)."""
  panels = [(net, d) for net, depths in (("mlp", cfg.train_depths), ("cnn", cfg.train_cnn_depths))
            for d in depths]
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(3.6 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (net, depth) in zip(axes, panels, strict=True):
      inits = dict(TRAINED)[net]
      for i, weights in enumerate(inits):
        for j, lr in enumerate(cfg.lrs if net == "mlp" else cfg.cnn_lrs):
          cell = [r for r in rows if r["network"] == net and r["depth"] == depth
                  and r["weights"] == weights and r["lr"] == lr]
          epochs = sorted({r["epoch"] for r in cell})
          acc = 100 * np.array([[r["train_acc"] for r in cell if r["epoch"] == e] for e in epochs])
          m = acc.mean(1)
          sd = acc.std(1, ddof=1) if acc.shape[1] > 1 else np.zeros(len(epochs))
          ax.plot(epochs, m, "o-" if j else "s--", color=f"C{i}", ms=4, label=f"{weights}, lr {lr:g}")
          ax.fill_between(epochs, m - sd, m + sd, color=f"C{i}", alpha=0.15, lw=0)
      ax.set_title(f"{net.upper()}, depth {depth}")
      ax.set_xlabel("epoch")
      ax.set_ylabel("training accuracy (%)")
      ax.legend(fontsize=7)
  return fig


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  if out.finished():
    return 0
  cfg = out.config
  mlp_key = {k: getattr(cfg, k) for k in ("K_star", "width", "depths", "networks")}
  cnn_key = {k: getattr(cfg, k) for k in ("K_star", "cnn_channels", "cnn_size", "cnn_depths",
                                          "cnn_networks")}
  spectra = {**out.cached("mlp_spectra", mlp_key, lambda: mlp_spectra(cfg)),
             **out.cached("cnn_spectra", cnn_key, lambda: cnn_spectra(cfg))}
  rows = spectrum_rows(spectra, cfg)
  tanh_cw, tanh_cb = critical("tanh", cfg.K_star)
  setting = (f"Critical tanh: K* = {cfg.K_star:g}, C_W = {tanh_cw:.5f}, C_b = {tanh_cb:.3g}; ReLU: "
             f"C_W = 2, C_b = 0. MLPs of width {cfg.width}, {cfg.networks} networks per cell; vanilla "
             f"tanh CNNs of {cfg.cnn_channels} channels on {cfg.cnn_size} x {cfg.cnn_size} inputs, "
             f"{cfg.cnn_networks} networks per cell. theory: Pennington et al. 2017 eqs. 13-17 "
             "(infinite width).")
  spectrum = stats.summarize(rows, by := ("network", "activation", "weights", "depth"),
                             SPECTRUM_METRICS)
  out.table(spectrum, "spectrum", by=by, metrics=SPECTRUM_METRICS, setting=setting, digits=4)
  out.figure(spectra_figure(spectra, cfg), "spectra",
             "The distribution of the eigenvalues of J J^T (log10; fraction of all eigenvalues "
             "of the cell's networks per bin) at the deepest MLP (tanh, ReLU) and CNN. Eigenvalues "
             "below about 1e-10 are float32 rounding of zero singular values (ReLU's exact zeros "
             "are drawn at 1e-30), not a resolved part of the spectrum. " + setting)
  out.figure(moments_figure(rows), "spectrum_moments",
             "The variance of the eigenvalues of J J^T against depth: points the mean over networks, "
             "bars the networks' interquartile range (the 95% CIs are in spectrum.md), lines the "
             "infinite-width theory. " + setting)
  train_rows: list[dict[str, Any]] = []
  for net, inits in TRAINED:
    for depth in cfg.train_depths if net == "mlp" else cfg.train_cnn_depths:
      for weights in inits:
        # a CNN trains one member at a time: XLA's CPU convolution of a vmapped population (a
        # grouped convolution) is slower than the members one after another
        result = out.sweep(f"train-{net}-{weights}-depth{depth}",
                           training_config(cfg, net, depth, weights), quiet=True, figures=False,
                           max_members_per_chunk=1 if net == "cnn" else None)
        train_rows += [{"network": net, "weights": weights, "depth": depth, **r}
                       for r in result_records(result)]
  train_setting = (f"tanh MLPs of width {cfg.train_width} on {cfg.data}, lr "
                   f"{' and '.join(map(str, cfg.lrs))}; DeepCNNs (tanh, {cfg.train_channels} "
                   f"channels, two stride-2 convolutions then `depth` more) on {cfg.cnn_data}, lr "
                   f"{' and '.join(map(str, cfg.cnn_lrs))}; at the critical (C_W, C_b) above; SGD "
                   f"with momentum {cfg.momentum}, batch {cfg.batch_size}, {cfg.epochs} epochs; "
                   f"{cfg.seeds} seeds per cell.")
  last = [r for r in train_rows if r["epoch"] == cfg.epochs]
  by = ("network", "depth", "lr", "weights")
  training = stats.summarize(last, by, TRAIN_METRICS)
  out.table(training, "training", by=by, metrics=TRAIN_METRICS, setting=train_setting)
  out.figure(training_figure(train_rows, cfg), "training",
             "Training accuracy per epoch of critical tanh MLPs (Gaussian against orthogonal "
             "kernels) and vanilla tanh CNNs (Gaussian against delta-orthogonal): lines the mean "
             "over seeds, bands ± one std. " + train_setting)
  out.summary({"spectrum": {
      f"{r['network']}/{r['activation']}/{r['weights']}/{r['depth']}": {
          "eig_var_mean": r["eig_var_mean"], "eig_var_ci95": r["eig_var_ci95"],
          "theory_var": r["theory_var_mean"], "n": r["n"]} for r in spectrum},
      "final_train_acc": {
          f"{r['network']}/depth{r['depth']}/lr{r['lr']:g}/{r['weights']}": {
              "mean": r["train_acc_mean"], "std": r["train_acc_std"], "n": r["n"]}
          for r in training}})
  print((out.folder / "spectrum.md").read_text(), end="")
  print((out.folder / "training.md").read_text(), end="")
  return 0


def result_records(result: sweep.SweepResult) -> list[dict[str, Any]]:
  """Every member's record at every evaluated epoch (train/test accuracy and loss)."""
  from jaxinit import results

  return [{"seed": r["seed"], "lr": r["lr"], "member": f"{result.folder.name}/{r['member']}",
           "epoch": r["epoch"], "train_acc": r["train_acc"],
           "test_acc": r["test_acc"], "train_loss": r["train_loss"], "diverged": r["diverged"]}
          for r in results.read_records(result.folder / "records.jsonl")]


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
