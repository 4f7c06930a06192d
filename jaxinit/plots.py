"""Figures for the paper and the CLI, in one publication style.

Figures are built with the object-oriented API (:class:`matplotlib.figure.Figure`), not ``pyplot``:
nothing is registered with a GUI backend, so they render headless (the Agg canvas for PNG) without
changing the backend of a notebook or script that imports this module, and need no ``plt.close``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from jaxinit import initializers

__all__ = ["STYLE", "sample_histogram", "loss_curves", "decision_boundary"]

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
}
"""rcParams every figure is drawn and saved under (applied locally, never globally)."""

FORMATS = (".png", ".pdf", ".svg")
DPI = 150
BINS = 100
_CURVE_POINTS = 512


def check_path(path: str | Path) -> Path:
  """Returns ``path`` as a Path if its suffix is a figure format we write, else raises ValueError."""
  path = Path(path)
  if path.suffix.lower() not in FORMATS:
    raise ValueError(f"cannot save a figure to {str(path)!r}; accepted suffixes: {', '.join(FORMATS)}")
  return path


def _save(fig: Figure, path: Path) -> None:
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
  _save(fig, path)
  return fig


def loss_curves(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "",
                metrics: Sequence[str] = ("train_loss", "test_loss"), by: str = "scheme") -> Figure:
  """Draws each group's mean metric per epoch with its 10-90% quantile band, and saves it.

  Args:
    rows: tidy records (``jaxinit.results.read_records``): ``epoch``, ``by`` and the metrics.
    path: where to save (``.png``, ``.pdf`` or ``.svg``).
    title: the figure's title.
    metrics: one panel per metric, log-scaled when the metric is a loss.
    by: the record key whose values are the curves (one colour each, in order of appearance).

  Returns:
    The figure: panel ``i`` draws ``metrics[i]``; in it, line ``j`` is group ``j``'s mean over its
    members with finite values at each epoch (diverged members drop out), ``ax.collections[j]`` the
    band between their 10% and 90% quantiles (a std band would cross zero on a log axis).

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
        mean, lo, hi = _by_epoch(rows, by, group, metric, epochs)
        ax.plot(epochs, mean, color=f"C{j}", lw=1.6, label=str(group))
        ax.fill_between(epochs, lo, hi, color=f"C{j}", alpha=0.2, lw=0)
      if metric.endswith("loss"):
        ax.set_yscale("log")
      ax.set_xlabel("epoch")
      ax.set_ylabel(metric.replace("_", " "))
    fig.axes[0].legend()
    if title:
      fig.suptitle(title)
  _save(fig, path)
  return fig


def _by_epoch(rows: Sequence[dict[str, Any]], by: str, group: Any, metric: str,
              epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Mean, 10% and 90% quantiles of a group's finite values at each epoch; NaN where none is."""
  index = {int(e): i for i, e in enumerate(epochs)}
  values: list[list[float]] = [[] for _ in epochs]
  for r in rows:
    v = r[metric]
    if r[by] == group and v is not None and np.isfinite(v):
      values[index[r["epoch"]]].append(v)
  stats = np.array([[np.mean(v), *np.quantile(v, [0.1, 0.9])] if v else [np.nan] * 3
                    for v in values])
  return stats[:, 0], stats[:, 1], stats[:, 2]


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
  _save(fig, path)
  return fig
