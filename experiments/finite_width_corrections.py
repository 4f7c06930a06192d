"""Finite-width corrections: how far from Gaussian are a deep network's preactivations at width n?

Question: at infinite width a preactivation at initialization is Gaussian with the kernel ``K(l)``
of the recursion ``K(l+1) = C_b + C_W <s^2>_{K(l)}``; at width ``n`` it is not. Roberts, Yaida &
Hanin, *The Principles of Deep Learning Theory* (PDLT, 2022; the preface is source 003) predict
the 1/n corrections: the excess kurtosis ``E z^4 / E[z^2]^2 - 3 = 3 kappa4 / K^2`` grows like
``depth / width`` (for ReLU at criticality exactly ``3 prod_k (1 + 5/n) - 3``), and for tanh the
mean kernel moves by ``delta_K / K = O(l/n)``. Do ensembles of random networks follow these lines?

Setup: MLPs of depth ``L = 20`` (every layer, the last included, of width ``n`` in 16..1024) at
criticality (``critical(relu)``: C_W = 2, C_b = 0; ``critical(tanh)``: C_W = 1, C_b = 0), one
input with ``|x|^2 / n_0 = 1``, thousands of networks per width. Drawing every weight matrix of
thousands of width-1024 networks is out of reach on a 2-core CPU (about 10^11 normals), so the
ensembles are drawn exactly in distribution with ``n`` normals per layer instead of ``n^2``: for
Gaussian weights and one input, given layer ``l`` the units of layer ``l+1`` are i.i.d.
``N(0, C_b + (C_W/n) sum_j s(z_j(l))^2)`` (the conditional Gaussianity that PDLT's 1/n expansion
starts from; it is a property of the weights' distribution, not an approximation). A check
draws real networks (``population.init_params`` + ``measure.ensemble_moments``) at the
widths of ``Config.check_widths`` and shows them in the figure (tanh: they agree within the error
bars; relu at small width: E z^4 is carried by rare networks, so both fall short, see the gallery).
Theory: ``finite_width.fourth_moment_ratio`` (ReLU, exact at any width),
``finite_width.kappa4_recursion`` (tanh, leading order ``3 + 3 kappa4 / K^2``),
``finite_width.mean_kernel`` (the O(1/n) mean-kernel shift) and ``theory.kernel_recursion``.
Error bars: one standard error over networks (the delta method for the ratio).

    python -m experiments.finite_width_corrections            # 262 s on a busy 2-core CPU
    python -m experiments.finite_width_corrections --tiny     # seconds

Outputs: ``fourth_moment`` (the book-style figure: data with error bars, theory as lines; below,
``n kappa4 / K^2`` against ``l``: every width on one curve), ``mean_kernel`` (the
infinite-width kernel through depth and the finite-width shift), the table ``layer_last`` and
``summary.json``. No data set is used: the input is the fixed vector of ones.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jaxinit import activations
from jaxinit.engine import population
from jaxinit.nets import models
from jaxinit.results import stats
from jaxinit.schemes import predictions
from jaxinit.studies import gallery, measure
from jaxinit.theory import finite_width

NAME = "finite_width_corrections"


@dataclasses.dataclass(frozen=True)
class Config:
  """Every number that decides the results.

  Attributes:
    activations: the hidden nonlinearities, each at its critical point (``critical(act)``).
    widths: the widths ``n`` of every layer.
    depth: the number of layers ``L`` (the last one's preactivations are measured too).
    networks: networks per width (one entry per width), drawn by the conditional-Gaussian sampler.
    chunk: networks per compiled call of the sampler (bounds memory).
    input_dim: ``n_0``; the input is ``ones(n_0)``, so ``q0 = |x|^2 / n_0 = 1``.
    check_widths: widths at which real networks (all weights drawn) are measured as a check.
    check_activations: the activations so checked.
    check_networks: real networks per check width.
    seed: the sampler's seed (chunk ``k`` at width ``n`` draws from NumPy's PCG64 seeded with
      ``(seed, n, k)``); real network ``m`` uses the population seed ``m``.
  """

  activations: tuple[str, ...] = ("relu", "tanh")
  widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
  depth: int = 20
  networks: tuple[int, ...] = (16384, 16384, 8192, 8192, 4096, 4096, 4096)
  chunk: int = 1024
  input_dim: int = 32
  check_widths: tuple[int, ...] = (16, 64)
  check_activations: tuple[str, ...] = ("relu", "tanh")
  check_networks: int = 512
  seed: int = 0

  def __post_init__(self) -> None:
    if len(self.networks) != len(self.widths):
      raise ValueError(f"networks needs one count per width ({len(self.widths)}); "
                       f"got {len(self.networks)}")


TINY = Config(widths=(8, 64), depth=6, networks=(1024, 1024), chunk=512, input_dim=8,
              check_widths=(), check_networks=64)


@functools.lru_cache(maxsize=8)
def variances(act: str) -> tuple[float, float]:
  """``(C_W, C_b)`` that ``critical(act)`` sets in a hidden layer (the same in every layer after
  the first, at every width)."""
  model = models.ModelConfig(widths=(8, 8), activation=act)
  C_W, C_b = predictions.layer_variances(f"critical({act})", model, (8,))
  return float(C_W[-1]), float(C_b[-1])


@functools.partial(jax.jit, static_argnames=("act",))
def _chain(noise_MLN: jax.Array, act: str, C_W: float, C_b: float, q0: float
           ) -> tuple[jax.Array, jax.Array]:
  """The exact one-input Markov chain of an MLP with Gaussian weights: given layer ``l``, the units
  of layer ``l + 1`` are i.i.d. ``N(0, G)``, ``G = C_b + (C_W / n) sum_j s(z_j(l))^2``, so
  ``z(l+1) = sqrt(G) xi`` with ``xi`` standard normal (``noise_MLN``: networks x layers x units).

  Returns:
    ``(a, b)``, each ``(M, L)``: each network's mean of ``z^2`` and of ``z^4`` over the units.
  """
  s = activations.get(act)

  def layer(G_M: jax.Array, xi_MN: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    z = jnp.sqrt(G_M)[:, None] * xi_MN
    z2 = z * z
    return C_b + C_W * jnp.mean(s(z) ** 2, axis=1), (jnp.mean(z2, axis=1), jnp.mean(z2 * z2, axis=1))

  G0 = jnp.full(noise_MLN.shape[:1], C_b + C_W * q0, jnp.float32)
  a_LM, b_LM = jax.lax.scan(layer, G0, jnp.swapaxes(noise_MLN, 0, 1))[1]
  return a_LM.T, b_LM.T


def sampled_moments(act: str, cfg: Config, width: int, networks: int) -> dict[str, np.ndarray]:
  """``{"a": (M, L), "b": (M, L)}``: network ``m``'s mean of ``z^2`` and of ``z^4`` over the units
  of each layer, for ``M = networks`` networks, in chunks of ``cfg.chunk`` networks (one compiled
  chain per width). Chunk ``k``'s standard normals come from NumPy's PCG64 seeded with ``(seed,
  width, k)`` (on a CPU several times faster than JAX's threefry, and nothing to compile)."""
  C_W, C_b = variances(act)
  a, b = [], []
  for k, start in enumerate(range(0, networks, cfg.chunk)):
    rng = np.random.Generator(np.random.PCG64([cfg.seed, width, k]))
    noise = rng.standard_normal((cfg.chunk, cfg.depth, width), np.float32)
    ca, cb = _chain(noise, act, C_W, C_b, 1.0)
    keep = min(cfg.chunk, networks - start)
    a.append(np.asarray(ca, np.float64)[:keep])
    b.append(np.asarray(cb, np.float64)[:keep])
  return {"a": np.concatenate(a), "b": np.concatenate(b)}


def moments(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
  """Ensemble statistics of per-network unit means ``a = mean z^2``, ``b = mean z^4`` ``(M, L)``.

  Returns:
    ``second`` (E z^2), ``second_se``, ``ratio`` (E z^4 / E[z^2]^2) and ``ratio_sd`` (the
    per-network std of the ratio's delta-method influence function; ``ratio_sd / sqrt(M)`` is
    its standard error, as in :func:`jaxinit.studies.measure.ensemble_moments`), each ``(L,)``.
  """
  A, B = a.mean(0), b.mean(0)
  influence = b / A ** 2 - 2 * B * a / A ** 3
  return {"second": A, "second_se": a.std(0, ddof=1) / np.sqrt(len(a)), "ratio": B / A ** 2,
          "ratio_sd": influence.std(0, ddof=1)}


@functools.lru_cache(maxsize=8)
def _recursions(act: str):
  """``(C_b, C_W, K1, widths) -> (K, kappa4, delta_K)`` compiled once per activation."""
  def run(C_b, C_W, K1, widths):
    K, kappa = finite_width.kappa4_recursion(act, C_b, C_W, K1, widths)
    return K, kappa, finite_width.mean_kernel(act, C_b, C_W, K1, widths)[1]
  return jax.jit(run)


def width_theory(act: str, cfg: Config, width: int) -> dict[str, np.ndarray]:
  """Theory at width ``n``, each ``(L,)``: ``K`` (infinite width), ``ratio`` (E z^4/E[z^2]^2:
  exact for relu, ``3 + 3 kappa4/K^2`` to O(1/n) otherwise), ``kappa_rel`` (``kappa4 / K^2``,
  leading order) and ``shift`` (``delta_K / K``, the O(1/n) mean-kernel correction)."""
  C_W, C_b = variances(act)
  widths = [width] * cfg.depth
  K1 = C_b + C_W * 1.0
  K, kappa, delta = (np.asarray(v, np.float64)
                     for v in _recursions(act)(C_b, C_W, K1, jnp.asarray(widths, jnp.float32)))
  if finite_width.slope_moments(activations.get(act)) is not None and C_b == 0:
    ratio = finite_width.fourth_moment_ratio(act, widths)
  else:
    ratio = 3 + 3 * kappa / K ** 2
  return {"K": K, "ratio": ratio, "kappa_rel": kappa / K ** 2, "shift": delta / K}


def real_moments(act: str, cfg: Config, width: int) -> dict[str, np.ndarray]:
  """The check: ``cfg.check_networks`` real networks (every weight drawn by
  ``population.init_params`` with ``critical(act)``, seeds 0..M-1) through
  ``measure.ensemble_moments`` at ``x = ones(n_0)``: ``second``, ``ratio``, ``ratio_se`` (L,)."""
  model = models.ModelConfig(widths=(width,) * cfg.depth, activation=act)
  members = population.grid([f"critical({act})"], range(cfg.check_networks))
  variables = population.init_params(model, members, (cfg.input_dim,))
  m = measure.ensemble_moments(model, variables, np.ones(cfg.input_dim, np.float32))
  return {"second": m.second_L, "ratio": m.ratio_L, "ratio_se": m.ratio_se_L}


def _colors(k: int) -> list:
  from matplotlib import colormaps
  return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.9, k)]


def fourth_moment_figure(cfg: Config, sampled: dict, theory_: dict, real: dict) -> Figure:
  """Top row: the excess kurtosis ``E z^4/E[z^2]^2 - 3`` against layer, one panel per activation.
  Bottom row: ``n kappa4 / K^2 = n (ratio / 3 - 1)``, on which the 1/n theory puts every width on
  one curve."""
  k = len(cfg.activations)
  fig = Figure(figsize=(5.2 * k, 9.0))
  layers = np.arange(1, cfg.depth + 1)
  colors = _colors(len(cfg.widths))
  for i, act in enumerate(cfg.activations):
    ax = fig.add_subplot(2, k, i + 1)
    for n, M, color in zip(cfg.widths, cfg.networks, colors, strict=True):
      s, t = sampled[act, n], theory_[act, n]
      ax.errorbar(layers[1:], s["ratio"][1:] - 3, yerr=s["ratio_sd"][1:] / np.sqrt(M), fmt="o",
                  ms=3.5, color=color, capsize=2, label=f"n = {n}")
      ax.plot(layers[1:], t["ratio"][1:] - 3, "-", color=color, lw=1.2)
      if (act, n) in real:
        r = real[act, n]
        ax.errorbar(layers[1:] + 0.25, r["ratio"][1:] - 3, yerr=r["ratio_se"][1:], fmt="s",
                    mfc="none", ms=5, color=color, capsize=2)
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"excess kurtosis  $E z^4 / E[z^2]^2 - 3$")
    exact = "exact" if act == "relu" else "1/n order"
    ax.set_title(f"{act} at criticality (lines: theory, {exact})")
    _collapse_panel(fig.add_subplot(2, k, k + i + 1), cfg, sampled, theory_, act, colors)
  handles, labels = fig.axes[1].get_legend_handles_labels()
  fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.99, 0.5), fontsize=9)
  fig.subplots_adjust(wspace=0.3, hspace=0.3)
  return fig


def _collapse_panel(ax, cfg: Config, sampled: dict, theory_: dict, act: str, colors: list) -> None:
  """``n kappa4 / K^2`` against layer for every width, with the O(1/n) theory (one line)."""
  layers = np.arange(1, cfg.depth + 1)
  for n, M, color in zip(cfg.widths, cfg.networks, colors, strict=True):
    s = sampled[act, n]
    ax.errorbar(layers, n * (s["ratio"] / 3 - 1), yerr=n * s["ratio_sd"] / 3 / np.sqrt(M),
                fmt="o", ms=3.5, color=color, capsize=2, label=f"n = {n}")
  line = cfg.widths[-1] * theory_[act, cfg.widths[-1]]["kappa_rel"]
  ax.plot(layers, line, "k-", lw=1.5, label="1/n theory (bottom row)")
  top = 1.3 * float(np.max(line))
  ax.set_ylim(-0.05 * top, top)
  ax.set_xlabel("layer l")
  ax.set_ylabel(r"$n\,\kappa_4 / K^2 = n\,(E z^4 / 3E[z^2]^2 - 1)$")
  ax.set_title(f"{act}: collapse in l/n")


def mean_kernel_figure(cfg: Config, sampled: dict, theory_: dict, act_shift: str) -> Figure:
  """Left: the infinite-width kernel ``K(l)`` (lines) and ``E z^2`` at the widest width (points).
  Right: the relative mean-kernel shift ``E z^2 / K - 1`` of ``act_shift`` per width, with
  ``delta_K / K`` (lines)."""
  fig = Figure(figsize=(10.4, 4.6))
  layers = np.arange(1, cfg.depth + 1)
  n_max = cfg.widths[-1]
  ax = fig.add_subplot(1, 2, 1)
  for act, color in zip(cfg.activations, ("C0", "C3", "C2", "C1"), strict=False):
    s, t = sampled[act, n_max], theory_[act, n_max]
    ax.plot(layers, t["K"], "-", color=color, label=f"{act}: K(l), infinite width")
    ax.errorbar(layers, s["second"], yerr=s["second_se"], fmt="o", ms=3.5, color=color,
                capsize=2, label=f"{act}: E z² at n = {n_max}")
  ax.set_yscale("log")
  ax.set_xlabel("layer l")
  ax.set_ylabel("kernel K(l) (mean square of a preactivation)")
  ax.set_title("the infinite-width kernel")
  ax.legend(loc="center right", fontsize=9)
  ax = fig.add_subplot(1, 2, 2)
  for n, color in zip(cfg.widths, _colors(len(cfg.widths)), strict=True):
    s, t = sampled[act_shift, n], theory_[act_shift, n]
    ax.errorbar(layers, 100 * (s["second"] / t["K"] - 1), yerr=100 * s["second_se"] / t["K"],
                fmt="o", ms=3.5, color=color, capsize=2, label=f"n = {n}")
    ax.plot(layers, 100 * t["shift"], "-", color=color, lw=1.2)
  ax.axhline(0.0, color="k", lw=0.6)
  ax.set_xlabel("layer l")
  ax.set_ylabel(r"mean-kernel shift $E z^2 / K - 1$ (%)")
  ax.set_title(f"{act_shift}: finite-width mean kernel (lines: O(1/n))")
  ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=9)
  fig.subplots_adjust(wspace=0.3)
  return fig


def table_rows(cfg: Config, sampled: dict, theory_: dict) -> list[dict]:
  """One row per (activation, width) at the last layer, in the shape of
  :func:`jaxinit.results.stats.summarize` rows: the measured ratio and mean-kernel shift (mean,
  per-network std, 95% CI of the mean over ``n`` networks) and the theory's values (no spread)."""
  rows = []
  for act in cfg.activations:
    for n, M in zip(cfg.widths, cfg.networks, strict=True):
      s, t = sampled[act, n], theory_[act, n]
      half = stats.ci95_factor(M)
      sd_shift = s["second_se"][-1] * np.sqrt(M) / t["K"][-1]
      rows.append({
          "activation": act, "width": n, "epoch": 0, "n": M, "n_diverged": 0, "n_total": M,
          "ratio_mean": float(s["ratio"][-1]), "ratio_std": float(s["ratio_sd"][-1]),
          "ratio_ci95": float(half * s["ratio_sd"][-1]),
          "ratio_theory_mean": float(t["ratio"][-1]), "ratio_theory_std": float("nan"),
          "ratio_theory_ci95": float("nan"),
          "shift_mean": float(s["second"][-1] / t["K"][-1] - 1), "shift_std": float(sd_shift),
          "shift_ci95": float(half * sd_shift),
          "shift_theory_mean": float(t["shift"][-1]), "shift_theory_std": float("nan"),
          "shift_theory_ci95": float("nan")})
  return rows


def main(argv: Sequence[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  if out.finished():
    return 0
  sampled, theory_, real = {}, {}, {}
  for act in cfg.activations:
    for n, M in zip(cfg.widths, cfg.networks, strict=True):
      key = {"config": dataclasses.asdict(cfg), "activation": act, "width": n}
      raw = out.cached(f"sampled-{act}-n{n}", key, lambda a=act, n=n, M=M: sampled_moments(
          a, cfg, n, M))
      sampled[act, n] = moments(raw["a"], raw["b"])
      theory_[act, n] = width_theory(act, cfg, n)
    for n in cfg.check_widths if act in cfg.check_activations else ():
      key = {"config": dataclasses.asdict(cfg), "activation": act, "width": n}
      real[act, n] = out.cached(f"real-{act}-n{n}", key, lambda a=act, n=n: real_moments(a, cfg, n))

  L = cfg.depth
  real_text = (f"open squares: {cfg.check_networks} real networks (all weights drawn) at n = "
               f"{', '.join(map(str, cfg.check_widths))}; " if real else "")
  counts = ", ".join(f"{M} at n = {n}" for n, M in zip(cfg.widths, cfg.networks, strict=True))
  out.figure(fourth_moment_figure(cfg, sampled, theory_, real), "fourth_moment",
             f"E z^4 / E[z^2]^2 - 3 of one preactivation at the input ones(n_0) against layer, "
             f"depth-{L} MLPs at criticality (relu: C_W = 2; tanh: C_W = 1; C_b = 0). Dots: "
             f"ensembles drawn layer by layer from the exact conditional Gaussian ({counts} "
             f"networks); {real_text}bars: one standard error (delta method). Lines: theory, "
             "relu exact 3 prod(1 + 5/n) - 3, tanh to O(1/n) 3 kappa4 / K^2 (PDLT). Bottom row: "
             "n kappa4 / K^2 = n (E z^4 / (3 E[z^2]^2) - 1) of the same ensembles; the black line, "
             "the O(1/n) theory, is the same for every n; points above it at small n are the "
             "O(l^2/n^2) terms.")
  act_shift = "tanh" if "tanh" in cfg.activations else cfg.activations[-1]
  out.figure(mean_kernel_figure(cfg, sampled, theory_, act_shift), "mean_kernel",
             f"Left: the infinite-width kernel K(l) (lines, theory.kernel_recursion) and the "
             f"measured E z^2 at n = {cfg.widths[-1]} (dots, bars one standard error). Right: "
             f"{act_shift}'s measured E z^2 / K(l) - 1 per width (dots, bars one standard error) "
             "and the O(1/n) theory delta_K / K (lines, finite_width.mean_kernel). ReLU's shift "
             "is exactly 0 (table).")
  rows = table_rows(cfg, sampled, theory_)
  out.table(rows, "layer_last", by=("activation", "width"),
            metrics=("ratio", "ratio_theory", "shift", "shift_theory"), digits=4,
            setting=(f"At initialization (no training), layer {L} of depth-{L} critical MLPs, "
                     "one input; ratio = E z^4 / E[z^2]^2, shift = E z^2 / K - 1; the std is "
                     "per network (the ratio's delta-method influence function); the theory "
                     "columns have no spread."))

  def abs_z(act: str, n: int, M: int) -> float:
    """The largest |measured - theory| ratio over layers 2..L, in standard errors."""
    s, t = sampled[act, n], theory_[act, n]
    return round(float(np.max(np.abs(s["ratio"][1:] - t["ratio"][1:])
                              / (s["ratio_sd"][1:] / np.sqrt(M)))), 2)

  headline: dict = {"networks_per_width": dict(zip(map(str, cfg.widths), cfg.networks,
                                                   strict=True))}
  for act in cfg.activations:
    headline[f"{act}_ratio_max_abs_z_by_width"] = {
        str(n): abs_z(act, n, M) for n, M in zip(cfg.widths, cfg.networks, strict=True)}
  for row in rows:
    tag = f"{row['activation']}_n{row['width']}_layer{L}"
    headline[f"{tag}_ratio"] = round(row["ratio_mean"], 4)
    headline[f"{tag}_ratio_se"] = round(row["ratio_std"] / np.sqrt(row["n"]), 4)
    headline[f"{tag}_ratio_theory"] = round(row["ratio_theory_mean"], 4)
    headline[f"{tag}_shift"] = round(row["shift_mean"], 5)
    headline[f"{tag}_shift_theory"] = round(row["shift_theory_mean"], 5)
  for (act, n), r in real.items():
    headline[f"real_{act}_n{n}_layer{L}_ratio"] = round(float(r["ratio"][-1]), 4)
    headline[f"real_{act}_n{n}_layer{L}_ratio_se"] = round(float(r["ratio_se"][-1]), 4)
  out.summary(headline)
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
