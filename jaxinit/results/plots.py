"""Figures for the paper and the CLI, in one publication style.

Figures are built with the object-oriented API (:class:`matplotlib.figure.Figure`), not ``pyplot``:
nothing is registered with a GUI backend, so they render headless (the Agg canvas for PNG) without
changing the backend of a notebook or script that imports this module, and need no ``plt.close``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure

from jaxinit import initializers

__all__ = ["STYLE", "LOSS_BAND", "save", "sample_histogram", "loss_curves", "decision_boundary",
           "histogram_grid", "depth_profile", "phase_diagram", "jacobian_spectrum", "coord_check",
           "lr_curves", "lr_transfer"]

STYLE: dict[str, object] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,  # TrueType, not Type 3: what journals' PDF checks accept
    "ps.fonttype": 42,
}
"""rcParams every figure is drawn and saved under (applied locally, never globally)."""

FORMATS = (".png", ".pdf", ".svg")
DPI = 150
BINS = 100
_CURVE_POINTS = 512


def check_path(path: str | Path, *, parent_exists: bool = False) -> Path:
  """Returns ``path`` as a Path if its suffix is a figure format we write (and, with
  ``parent_exists``, its folder is there: a file a user names is not written into a folder made
  for a typo), else raises ValueError."""
  path = Path(path)
  if path.suffix.lower() not in FORMATS:
    raise ValueError(f"cannot save a figure to {str(path)!r}; accepted suffixes: {', '.join(FORMATS)}")
  if parent_exists and not path.parent.is_dir():
    raise ValueError(f"cannot save a figure to {str(path)!r}: the folder {str(path.parent)!r} does "
                     "not exist; accepted: a file in an existing folder")
  return path


def save(fig: Figure, path: str | Path) -> None:
  """Saves ``fig`` under :data:`STYLE` (PNG at :data:`DPI` dots per inch); folders are made."""
  path = check_path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with mpl.rc_context(STYLE):
    fig.savefig(path, dpi=DPI)


def sample_histogram(values: np.ndarray, target: initializers.Target | None, title: str,
                     path: str | Path) -> Figure:
  """Draws the density histogram of a draw, with the target density over it, and saves it.

  Args:
    values: the draw, any shape; flattened and converted to float64.
    target: the distribution the entries should follow (``init.target(shape)``), or None. Its
      density (the normal approximation for ``orthogonal``) is drawn over the histogram's range
      where :meth:`~jaxinit.initializers.Target.pdf` gives a finite one; none is drawn for the
      families without a density (constant, identity, delta_orthogonal) or a zero variance.
    title: the axes title, e.g. the scheme's canonical name.
    path: where to save (missing parent folders are made); the suffix picks the format
      (``.png``, ``.pdf`` or ``.svg``), 150 dpi.

  Returns:
    The figure: ``fig.axes[0].patches`` are the ``BINS`` (100) bars, whose heights are
    ``np.histogram(values, bins=100, density=True)``, and ``fig.axes[0].lines`` holds the density
    curve when one is drawn.

  Raises:
    ValueError: no values, non-finite values, or a suffix not in ``FORMATS``.
  """
  path = check_path(path)
  values = np.asarray(values, dtype=np.float64).ravel()
  if values.size == 0 or not np.all(np.isfinite(values)):
    raise ValueError(f"cannot plot a histogram of {values.size} values, some non-finite or none; "
                     "accepted: a non-empty array of finite values")
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    _, edges, _ = ax.hist(values, bins=BINS, density=True, color="0.65", label="sample")
    if target is not None:
      x = np.linspace(edges[0], edges[-1], _CURVE_POINTS)
      with np.errstate(all="ignore"):
        y = target.pdf(x)
      if y is not None and np.all(np.isfinite(y)):
        label = "normal approximation" if target.family == "orthogonal" else "target density"
        ax.plot(x, y, color="C3", lw=1.8, label=label)
    ax.set_xlabel("weight value")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
  save(fig, path)
  return fig


LOSS_BAND = "mean ± std over members\n(diverged ones left out)"
"""The legend title of :func:`loss_curves`: what its lines and bands are."""


def loss_curves(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "",
                metrics: Sequence[str] = ("train_loss", "test_loss"), by: str = "scheme") -> Figure:
  """Draws each group's mean metric per epoch with a band of one std either side, and saves it.

  The figure states what it draws: the legend's title is :data:`LOSS_BAND`.

  Args:
    rows: tidy records (``jaxinit.results.read_records``): ``epoch``, ``by`` and the metrics.
    path: where to save (``.png``, ``.pdf`` or ``.svg``).
    title: the figure's title, e.g. the dataset (the statistic is named by the legend).
    metrics: one panel per metric, log-scaled when the metric is a loss.
    by: the record key whose values are the curves (one colour each, in order of appearance).

  Returns:
    The figure: panel ``i`` draws ``metrics[i]``; in it, line ``j`` is group ``j``'s mean over its
    members with a finite value at each epoch (diverged members drop out), and ``ax.collections[j]``
    the band from mean - std to mean + std (sample std, divisor ``n - 1``; no band where ``n < 2``).
    On a log axis a lower edge at or below zero runs off the bottom of the axis.

  Raises:
    ValueError: no rows, or a suffix not in ``FORMATS``.
  """
  path = check_path(path)
  if not rows:
    raise ValueError("cannot draw loss curves of no records; accepted: at least one record")
  groups = list(dict.fromkeys(r[by] for r in rows))
  epochs = np.array(sorted({r["epoch"] for r in rows}))
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(5.0 * len(metrics), 3.6), layout="constrained")
    for i, metric in enumerate(metrics):
      ax = fig.add_subplot(1, len(metrics), i + 1)
      for j, group in enumerate(groups):
        mean, std = _mean_std_by_epoch(rows, by, group, metric, epochs)
        ax.plot(epochs, mean, color=f"C{j}", lw=1.6, label=str(group))
        ax.fill_between(epochs, mean - std, mean + std, color=f"C{j}", alpha=0.2, lw=0)
      if metric.endswith("loss"):
        ax.set_yscale("log")
      ax.set_xlabel("epoch")
      ax.set_ylabel(metric.replace("_", " "))
    fig.axes[0].legend(title=LOSS_BAND)
    if title:
      fig.suptitle(title)
  save(fig, path)
  return fig


def _mean_std_by_epoch(rows: Sequence[dict[str, Any]], by: str, group: Any, metric: str,
                       epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and sample std (ddof 1) of a group's finite values at each epoch; NaN where too few."""
  index = {int(e): i for i, e in enumerate(epochs)}
  values: list[list[float]] = [[] for _ in epochs]
  for r in rows:
    v = r[metric]
    if r[by] == group and v is not None and np.isfinite(v):
      values[index[r["epoch"]]].append(v)
  mean = np.array([np.mean(v) if v else np.nan for v in values])
  std = np.array([np.std(v, ddof=1) if len(v) > 1 else np.nan for v in values])
  return mean, std


def decision_boundary(gx: np.ndarray, gy: np.ndarray, prob: np.ndarray, x: np.ndarray, y: np.ndarray,
                      title: str, path: str | Path) -> Figure:
  """Draws p(class 1) over a 2-D grid with its 0.5 contour and the labelled points, and saves it.

  Args:
    gx, gy: the grid coordinates, shape ``(H, W)`` (``np.meshgrid``).
    prob: the probability of class 1 at each grid point, shape ``(H, W)``, in [0, 1] (all NaN draws
      an empty panel, e.g. when every member diverged).
    x: points to draw, shape ``(N, 2)``; y: their labels ``(N,)``.
    title: the axes title.
    path: where to save (``.png``, ``.pdf`` or ``.svg``).

  Returns:
    The figure; ``fig.axes[0].collections`` hold the filled contours and the two point sets.
  """
  path = check_path(path)
  if prob.shape != gx.shape or gx.shape != gy.shape:
    raise ValueError(f"grid shapes differ: gx {gx.shape}, gy {gy.shape}, prob {prob.shape}; "
                     "accepted: three arrays of one shape (H, W)")
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(4.6, 4.0), layout="constrained")
    ax = fig.add_subplot()
    if np.isfinite(prob).any():
      filled = ax.contourf(gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.75)
      fig.colorbar(filled, ax=ax, label="p(class 1)")
      if np.nanmin(prob) < 0.5 < np.nanmax(prob):
        ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1.2)
    for label, colour in ((0, "C0"), (1, "C3")):
      pts = x[y == label]
      ax.scatter(pts[:, 0], pts[:, 1], s=14, c=colour, edgecolors="k", linewidths=0.5,
                 label=f"class {label}")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("$x_1$ (standardised)")
    ax.set_ylabel("$x_2$ (standardised)")
    ax.legend(loc="upper right")
  save(fig, path)
  return fig


def histogram_grid(edges: np.ndarray, counts_LB: np.ndarray, path: str | Path, title: str = "",
                   xlabel: str = "value", labels: Sequence[str] | None = None,
                   columns: int = 5) -> Figure:
  """Draws one histogram panel per layer, and saves it.

  The figure of the constant-init post and of the deep-network lecture notes: how a quantity's
  distribution changes through depth.

  Args:
    edges: bin edges, ``(B + 1,)`` shared by all panels or ``(L, B + 1)`` one row per panel (each
      layer its own range, :func:`jaxinit.studies.measure.diagnose`'s default).
    counts_LB: counts per layer and bin ``(L, B)``, e.g. from
      :func:`jaxinit.studies.measure.histograms`.
    path: where to save (``.png``, ``.pdf`` or ``.svg``).
    title: the figure's title.
    xlabel: the x label of the bottom row.
    labels: one panel title per layer (default ``layer 1`` ...).
    columns: panels per row.

  Returns:
    The figure: ``fig.axes[l]`` is layer ``l + 1``'s panel; its ``patches`` are the ``B`` bars,
    whose heights are ``counts_LB[l]``.
  """
  path = check_path(path)
  edges, counts_LB = np.asarray(edges, np.float64), np.asarray(counts_LB)
  layers = counts_LB.shape[0] if counts_LB.ndim == 2 else 0
  if edges.ndim == 1:
    edges = np.broadcast_to(edges, (layers, edges.size))
  if counts_LB.ndim != 2 or edges.shape != (layers, counts_LB.shape[1] + 1):
    raise ValueError(f"counts_LB {counts_LB.shape} and edges {edges.shape} do not fit; accepted: "
                     "counts (L, B) with edges (B + 1,) or (L, B + 1)")
  labels = list(labels) if labels is not None else [f"layer {i + 1}" for i in range(layers)]
  cols = min(columns, layers)
  rows = -(-layers // cols)
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(2.4 * cols, 1.9 * rows + 0.4), layout="constrained")
    for i in range(layers):
      ax = fig.add_subplot(rows, cols, i + 1)
      ax.bar(edges[i, :-1], counts_LB[i], width=np.diff(edges[i]), align="edge", color="0.45",
             lw=0)
      ax.set_title(labels[i], fontsize=10)
      ax.set_yticks([])
      ax.tick_params(labelsize=8)
      if i >= layers - cols:
        ax.set_xlabel(xlabel, fontsize=9)
    if title:
      fig.suptitle(title)
  save(fig, path)
  return fig


def depth_profile(theory_L: np.ndarray | None, samples_SL: np.ndarray, path: str | Path,
                  ylabel: str, title: str = "", log: bool = False) -> Figure:
  """Draws a quantity against depth: the theory curve and the Monte-Carlo mean +- 1 std band.

  Args:
    theory_L: the prediction at layers ``1..L`` ``(L,)``, or None.
    samples_SL: the measured quantity for ``S`` networks (seeds) at each layer ``(S, L)``.
    path: where to save (``.png``, ``.pdf`` or ``.svg``).
    ylabel: what is drawn, e.g. ``"K(l) = mean z^2"``.
    title: the axes title.
    log: log-scaled y axis.

  Returns:
    The figure; ``fig.axes[0].lines[0]`` is the Monte-Carlo mean, ``lines[1]`` the theory curve
    (when given), ``collections[0]`` the band.
  """
  path = check_path(path)
  samples_SL = np.asarray(samples_SL, np.float64)
  if samples_SL.ndim != 2:
    raise ValueError(f"samples_SL must have shape (seeds, layers); got {samples_SL.shape}")
  depth = np.arange(1, samples_SL.shape[1] + 1)
  mean, std = samples_SL.mean(0), samples_SL.std(0)
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(5.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(depth, mean, "o", ms=3.5, color="C0",
            label=f"Monte Carlo, mean of {samples_SL.shape[0]} networks")
    if theory_L is not None:
      ax.plot(depth, np.asarray(theory_L, np.float64), "-", color="C3", lw=1.6,
              label="infinite-width theory")
    ax.fill_between(depth, mean - std, mean + std, color="C0", alpha=0.2, lw=0, label="± 1 std")
    if log:
      ax.set_yscale("log")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # layers are whole numbers
    ax.set_xlabel("layer l")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
  save(fig, path)
  return fig


def phase_diagram(C_W: np.ndarray, C_b: np.ndarray, chi_perp_BW: np.ndarray, path: str | Path,
                  title: str = "") -> Figure:
  """Draws log chi_perp(K*) over a (C_W, C_b) grid with the order-to-chaos line chi_perp = 1.

  Args:
    C_W: weight variances ``(W,)`` (x axis); C_b: bias variances ``(B,)`` (y axis).
    chi_perp_BW: chi_perp at the fixed point for each (C_b, C_W), shape ``(B, W)``
      (``jax.vmap(jax.vmap(theory.phase))``).
    path: where to save (``.png``, ``.pdf`` or ``.svg``).
    title: the axes title, e.g. the activation.

  Returns:
    The figure; ``fig.axes[0].collections[0]`` is the colour mesh (its array is log chi_perp) and
    the contour at 0 is the edge of chaos.
  """
  path = check_path(path)
  chi = np.asarray(chi_perp_BW, np.float64)
  if chi.shape != (len(C_b), len(C_W)):
    raise ValueError(f"chi_perp_BW must have shape (len(C_b), len(C_W)) = ({len(C_b)}, {len(C_W)});"
                     f" got {chi.shape}")
  with np.errstate(divide="ignore", invalid="ignore"):
    log_chi = np.log(chi)
  bound = np.nanmax(np.abs(log_chi[np.isfinite(log_chi)])) if np.isfinite(log_chi).any() else 1.0
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(5.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(C_W, C_b, log_chi, cmap="RdBu_r", vmin=-bound, vmax=bound, shading="auto")
    fig.colorbar(mesh, ax=ax, label=r"$\log \chi_\perp(K^*)$")
    if np.nanmin(log_chi) < 0 < np.nanmax(log_chi):
      ax.contour(C_W, C_b, log_chi, levels=[0.0], colors="k", linewidths=1.5)
    ax.text(0.03, 0.95, "ordered", transform=ax.transAxes, va="top", color="k")
    ax.text(0.97, 0.05, "chaotic", transform=ax.transAxes, ha="right", color="k")
    ax.set_xlabel(r"$C_W$")
    ax.set_ylabel(r"$C_b$")
    ax.set_title(title)
  save(fig, path)
  return fig


def jacobian_spectrum(eigenvalues: dict[str, np.ndarray], path: str | Path, title: str = "",
                      bins: int = 60) -> Figure:
  """Draws the distribution of the eigenvalues of J J^T (squared singular values of the
  input-output Jacobian), one step histogram per label on shared log-spaced bins, and saves it.

  Each histogram shows the fraction of that label's eigenvalues per bin (summing to 1), not a
  density: a spectrum concentrated on one value (an orthogonal network's) is then one bar of
  height at most 1 and does not flatten the others, as a density of ~1e17 on a narrow log bin did.
  The legend sits below the axes, off the data.

  Args:
    eigenvalues: label -> eigenvalues (any shape, flattened; > 0), e.g. ``{"orthogonal": ...,
      "gaussian": ...}``.
    path: where to save (``.png``, ``.pdf`` or ``.svg``).
    title: the axes title.
    bins: number of bins.

  Returns:
    The figure; ``fig.axes[0].patches`` hold the histograms in label order (one step patch each)
    and ``fig.legends[0]`` the legend.
  """
  path = check_path(path)
  values = {k: np.asarray(v, np.float64).ravel() for k, v in eigenvalues.items()}
  positive = np.concatenate([v[v > 0] for v in values.values()]) if values else np.array([])
  if positive.size == 0:
    raise ValueError("no positive eigenvalues to draw; accepted: a dict of non-empty arrays")
  lo, hi = positive.min(), positive.max()
  edges = np.geomspace(lo * 0.9, hi * 1.1, bins + 1) if hi > lo * 1.01 else np.linspace(
      lo - 0.05, hi + 0.05, bins + 1)
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(5.0, 3.6 + 0.22 * len(values)), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, v) in enumerate(values.items()):
      ax.hist(v, bins=edges, weights=np.full(v.size, 1 / v.size), histtype="step", lw=1.6,
              color=f"C{i}", label=f"{label} (mean {v.mean():.3g}, var {v.var():.3g})")
    if hi > lo * 1.01:
      ax.set_xscale("log")
    ax.set_ylim(0, None)
    ax.set_xlabel(r"eigenvalue of $J J^\top$")
    ax.set_ylabel("fraction of eigenvalues per bin")
    ax.set_title(title)
    fig.legend(loc="outside lower center", fontsize=8, frameon=False)
  save(fig, path)
  return fig


def coord_check(checks: dict[str, Any], measure: str = "change", steps: Sequence[int] | None = None,
                path: str | Path | None = None, title: str = "") -> Figure:
  """Draws coordinate checks in the style of microsoft/mup's: each layer's coordinate size against
  width (log-log), one row per check (e.g. per parametrization), one column per training step.

  Args:
    checks: label -> :class:`jaxinit.studies.coordcheck.CoordCheck`, e.g. ``{"SP": ..., "muP": ...}``.
    measure: ``"change"`` (RMS of ``z_t - z_0``) or ``"size"`` (RMS of ``z_t``).
    steps: the steps drawn (default: every step from 1, or from 0 for ``"size"``).
    path: where to save (``.png``, ``.pdf`` or ``.svg``), or None to only return the figure.
    title: the figure's title.

  Returns:
    The figure; panel ``(row r, column c)`` is ``fig.axes[r * len(steps) + c]`` and its line ``l``
    is layer ``l``'s seed-mean, labelled with its fitted log-log slope.
  """
  if not checks:
    raise ValueError("checks is empty; give at least one coordinate check")
  first = next(iter(checks.values()))
  last = first.size_WSTL.shape[2] - 1
  steps = list(range(0 if measure == "size" else 1, last + 1)) if steps is None else list(steps)
  bad = [t for t in steps if not 0 <= t <= last]
  if bad:
    raise ValueError(f"steps {bad} are outside 0..{last}, the steps the checks measured")
  rows, cols = len(checks), len(steps)
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(2.6 * cols + 0.6, 2.4 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey="row")
    for r, (label, check) in enumerate(checks.items()):
      values = check.size_WSTL if measure == "size" else check.change_WSTL
      slope, _ = check.slopes(measure)
      widths = np.asarray(check.config.widths)
      for c, t in enumerate(steps):
        ax = axes[r, c]
        for layer in range(values.shape[-1]):
          ax.plot(widths, values[:, :, t, layer].mean(1), "o-", ms=3, lw=1.3,
                  label=f"layer {layer}: {slope[t, layer]:+.2f}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{label}, step {t}", fontsize=10)
        if c == 0:
          ax.set_ylabel(f"RMS of {'z_t - z_0' if measure == 'change' else 'z_t'}")
        if r == rows - 1:
          ax.set_xlabel("width")
        ax.legend(fontsize=7, title="slope", title_fontsize=7, loc="best")
    if title:
      fig.suptitle(title)
  if path is not None:
    save(fig, path)
  return fig


def lr_curves(ax: Any, rows: Sequence[dict[str, Any]], metric: str = "train_loss",
              log_y: bool = True) -> dict[int, float]:
  """Draws into ``ax`` a metric's mean against the learning rate (log2 x axis), one curve per width
  (dark to light, in increasing width), the 95% CI as error bars, each curve's best learning rate
  starred.

  Args:
    ax: a matplotlib Axes.
    rows: summary rows with ``width``, ``lr``, ``<metric>_mean`` and ``<metric>_ci95``, of one
      scheme.
    metric: e.g. ``"train_loss"`` (lower is better) or ``"test_acc"`` (higher is better).
    log_y: log-scaled y axis.

  Returns:
    Each width's best learning rate (NaN where every member diverged).
  """
  widths = sorted({r["width"] for r in rows})
  lower = not metric.endswith("acc")
  colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, len(widths)))
  best = {}
  for color, width in zip(colors, widths, strict=True):
    part = sorted((r for r in rows if r["width"] == width), key=lambda r: r["lr"])
    lr = np.asarray([r["lr"] for r in part], np.float64)
    mean = np.asarray([r[f"{metric}_mean"] for r in part], np.float64)
    ci = np.asarray([r.get(f"{metric}_ci95", np.nan) for r in part], np.float64)
    ax.errorbar(lr, mean, yerr=np.where(np.isfinite(ci), ci, 0.0), fmt="o-", ms=3, lw=1.3,
                color=color, capsize=2, label=f"width {width}")
    best[width] = math.nan
    if np.isfinite(mean).any():
      k = int(np.nanargmin(mean) if lower else np.nanargmax(mean))
      ax.plot(lr[k], mean[k], "*", ms=12, color=color, mec="k", mew=0.6, zorder=5)
      best[width] = float(lr[k])
  ax.set_xscale("log", base=2)
  if log_y:
    ax.set_yscale("log")
  ax.set_xlabel("learning rate")
  ax.set_ylabel(metric.replace("_", " "))
  return best


def lr_transfer(table: Sequence[dict[str, Any]], path: str | Path | None = None,
                metric: str = "train_loss", title: str = "", log_y: bool = True) -> Figure:
  """Draws :func:`lr_curves`, one panel per scheme (and momentum and scale, where the table has
  several): where the stars line up, the learning rate transfers across width.

  Args:
    table: summary rows with ``width``, ``scheme``, ``lr``, ``<metric>_mean`` and
      ``<metric>_ci95`` (:func:`jaxinit.studies.width_sweep.run`'s ``table``).
    path: where to save (``.png``, ``.pdf`` or ``.svg``), or None to only return the figure.
    metric: the metric, e.g. ``"train_loss"`` (lower is better) or ``"test_acc"`` (higher).
    title: the figure's title.
    log_y: log-scaled y axis.

  Returns:
    The figure; in each panel, line ``k`` is the ``k``-th smallest width.
  """
  rows = list(table)
  if not rows:
    raise ValueError("the table is empty; give the rows of a width sweep")
  keys = [k for k in ("scheme", "momentum", "scale") if k in rows[0]]
  panels = list(dict.fromkeys(tuple(r[k] for k in keys) for r in rows))
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(4.6 * len(panels) + 1.2, 3.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
      lr_curves(ax, [r for r in rows if tuple(r[k] for k in keys) == panel], metric, log_y)
      ax.set_title(", ".join(f"{k} {v}" if k != "scheme" else str(v) for k, v in zip(
          keys, panel, strict=True)) if len(panels) > 1 else title)
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    if title and len(panels) > 1:
      fig.suptitle(title)
  if path is not None:
    save(fig, path)
  return fig
