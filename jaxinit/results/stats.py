"""Statistics over the members of a sweep: one group-by (:func:`group`), and corrections for
several tests (:func:`adjust_p`).

:func:`group` reduces any rows to one row per group (the sweep's and the diagnostics' tables use
it): the mean, the sample std and the Student-t 95% half-width of each metric. :func:`summarize`
applies it to a sweep's records at one epoch, diverged members excluded and counted. Distributions
come from :mod:`scipy.stats` (installed with jax); nothing here loads jax.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import scipy.stats

from jaxinit.results.records import METRICS

__all__ = ["SPREADS", "CORRECTIONS", "ci95_factor", "adjust_p", "summarize", "group", "per_seed_argmin"]

SPREADS = ("ci95", "std", "std_ci95")
"""The spreads a table can show after the mean: :func:`summarize`'s columns ``<m>_ci95`` and
``<m>_std``, or both (``std_ci95``: the std, then the 95% half-width in parentheses)."""


def ci95_factor(n: int) -> float:
  """The Student-t factor of a 95% confidence half-width of a mean of ``n`` values:
  ``t_{0.975, n - 1} / sqrt(n)`` (``scipy.stats.t.ppf``), so half-width = factor x sample std.

  >>> round(ci95_factor(11) * 11 ** 0.5, 6)
  2.228139

  Raises:
    ValueError: ``n < 2`` (no spread can be estimated).
  """
  if n < 2:
    raise ValueError(f"a 95% confidence interval needs n >= 2 values; got n={n}")
  return float(scipy.stats.t.ppf(0.975, n - 1)) / math.sqrt(n)


CORRECTIONS = ("holm", "bh", "none")
"""How :func:`adjust_p` corrects several p-values: Holm's step-down (controls the family-wise error
rate; the default of every table with several tests), Benjamini-Hochberg (the false discovery
rate, :func:`scipy.stats.false_discovery_control`), or not at all."""


def adjust_p(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
  r"""Adjusted p-values of ``m`` tests reported together, in the input order (NaN stays NaN and
  does not count as a test).

  Holm (1979), with ``p_(1) <= ... <= p_(m)`` sorted:
  :math:`\tilde p_{(i)} = \max_{j \le i} \min(1, (m - j + 1)\, p_{(j)})`, so rejecting
  where ``adjusted <= alpha`` is Holm's step-down test at family-wise level ``alpha``.
  ``"bh"`` is Benjamini & Hochberg (1995) through :func:`scipy.stats.false_discovery_control`.

  Args:
    p_values: shape ``(m,)``, each in [0, 1] or NaN.
    method: one of :data:`CORRECTIONS`.

  >>> adjust_p([0.01, 0.04, 0.03]).round(3).tolist()
  [0.03, 0.06, 0.06]

  Raises:
    ValueError: an unknown method or a p-value outside [0, 1].
  """
  p = np.asarray(p_values, np.float64).ravel()
  if method not in CORRECTIONS:
    raise ValueError(f"unknown correction {method!r}; accepted: {', '.join(CORRECTIONS)}")
  tested = ~np.isnan(p)
  if np.any((p[tested] < 0) | (p[tested] > 1)):
    raise ValueError(f"p-values must lie in [0, 1]; got {p[tested].min()} to {p[tested].max()}")
  out, q = p.copy(), p[tested]
  if method == "holm" and q.size:
    order = np.argsort(q, kind="stable")
    steps = (q.size - np.arange(q.size)) * q[order]
    adjusted = np.empty_like(q)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    out[tested] = adjusted
  elif method == "bh" and q.size:
    out[tested] = scipy.stats.false_discovery_control(q, method="bh")
  return out


def finite(value: Any) -> bool:
  """Whether ``value`` is a number other than None, NaN and the infinities."""
  return value is not None and math.isfinite(value)


def summarize(rows: Iterable[dict[str, Any]], by: Sequence[str] = ("scheme",),
              metrics: Sequence[str] = METRICS, epoch: int | None = None) -> list[dict[str, Any]]:
  """Mean, sample std and 95% confidence half-width of each metric, per group of members.

  Args:
    rows: records (:func:`jaxinit.results.records.read_records`), any number of epochs.
    by: the record keys that form a group; groups are listed in order of first appearance.
    metrics: the metric fields to summarize.
    epoch: the epoch to summarize; None takes each member's last epoch present in ``rows``.

  Returns:
    One dict per group: the ``by`` keys, ``epoch`` (the largest epoch taken in the group), ``n``
    (members not marked diverged whose metrics are all finite: the only ones in the statistics),
    ``n_diverged`` (members marked diverged), ``n_total``, and for each metric ``<m>_mean``,
    ``<m>_std`` (ddof=1) and ``<m>_ci95`` (``ci95_factor(n) * std``); the std
    and half-width are NaN when ``n < 2``, the mean when ``n == 0``.

  Raises:
    ValueError: no record at ``epoch``, or two records of one member at one epoch (a resumed run
      whose file was not cut back with :func:`jaxinit.results.records.truncate_records`).

  >>> rows = [{"member": k, "epoch": 1, "scheme": "s", "diverged": k == 2, "loss": x}
  ...         for k, x in enumerate([1.0, 3.0, float("nan")])]
  >>> row, = summarize(rows, metrics=("loss",))
  >>> row["n"], row["n_diverged"], row["loss_mean"], round(row["loss_ci95"], 3)
  (2, 1, 2.0, 12.706)
  """
  rows, by, metrics = list(rows), tuple(by), tuple(metrics)
  if epoch is None:
    last: dict[int, int] = {}
    for r in rows:
      last[r["member"]] = max(last.get(r["member"], r["epoch"]), r["epoch"])
    rows = [r for r in rows if r["epoch"] == last[r["member"]]]
  else:
    epochs = sorted({r["epoch"] for r in rows})
    rows = [r for r in rows if r["epoch"] == epoch]
    if epochs and not rows:
      raise ValueError(f"no record has epoch {epoch}; accepted: an epoch present, {epochs[0]} to "
                       f"{epochs[-1]}")
  seen: set[tuple[int, int]] = set()
  for r in rows:
    if (r["member"], r["epoch"]) in seen:
      raise ValueError(f"member {r['member']} has two records at epoch {r['epoch']}; accepted: one "
                       "record per member and epoch")
    seen.add((r["member"], r["epoch"]))
  table = group(rows, by, metrics, excluded=lambda r: bool(r["diverged"]))
  epochs: dict[tuple[Any, ...], int] = {}
  for r in rows:
    key = tuple(r[k] for k in by)
    epochs[key] = max(epochs.get(key, r["epoch"]), r["epoch"])
  for out in table:
    out_key = tuple(out[k] for k in by)
    n_diverged = out.pop("n_excluded")
    rest = {k: out.pop(k) for k in list(out) if k not in by}
    out.update(epoch=epochs[out_key], n=rest.pop("n"), n_diverged=n_diverged, **rest)
  return table


def group(rows: Iterable[dict[str, Any]], by: Sequence[str], metrics: Sequence[str], *,
          excluded: Callable[[dict[str, Any]], bool] | None = None, jointly: bool = True
          ) -> list[dict[str, Any]]:
  """The one group-by: mean, sample std and Student-t 95% half-width of each metric per group.

  Args:
    rows: dicts holding the ``by`` keys and the ``metrics`` (one row per unit: a member at an
      epoch, a member's layer).
    by: the keys that form a group; groups are listed in order of first appearance.
    metrics: the numeric fields to reduce.
    excluded: rows to leave out of the statistics and count as ``n_excluded`` (e.g. diverged
      members); None leaves out none.
    jointly: True: a row enters every metric's statistics only if all its metrics are finite (one
      ``n`` per group); False: each metric over the rows where it is finite (``<m>_n`` per metric,
      and ``n`` the rows kept), e.g. a column that applies to some activations only.

  Returns:
    One dict per group: the ``by`` keys, ``n``, ``n_excluded``, ``n_total`` and for each metric
    ``<m>_mean``, ``<m>_std`` (ddof=1) and ``<m>_ci95`` (NaN where fewer than 2 values, the mean
    NaN where none), plus ``<m>_n`` when not ``jointly``.

  >>> rows = [{"g": "a", "x": 1.0, "y": float("nan")}, {"g": "a", "x": 3.0, "y": 2.0}]
  >>> out, = group(rows, ("g",), ("x", "y"), jointly=False)
  >>> out["n"], out["x_mean"], out["y_n"], out["y_mean"]
  (2, 2.0, 1, 2.0)
  """
  by, metrics = tuple(by), tuple(metrics)
  groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
  for r in rows:
    groups.setdefault(tuple(r[k] for k in by), []).append(r)
  table = []
  for key, members in groups.items():
    kept = [r for r in members if excluded is None or not excluded(r)]
    n_excluded = len(members) - len(kept)
    if jointly:
      kept = [r for r in kept if all(finite(r[m]) for m in metrics)]
    out = dict(zip(by, key, strict=True))
    out.update(n=len(kept), n_excluded=n_excluded, n_total=len(members))
    for m in metrics:
      x = np.array([r[m] for r in kept if finite(r[m])], dtype=np.float64)
      n = len(x)
      std = float(x.std(ddof=1)) if n >= 2 else math.nan
      out[f"{m}_mean"] = float(x.mean()) if n else math.nan
      out[f"{m}_std"] = std
      out[f"{m}_ci95"] = ci95_factor(n) * std if n >= 2 else math.nan
      if not jointly:
        out[f"{m}_n"] = n
    table.append(out)
  return table


def per_seed_argmin(records: Iterable[dict[str, Any]], by: Sequence[str], along: str = "lr",
                    metric: str = "train_loss") -> dict[tuple, dict[Any, Any]]:
  """Each seed's best grid point: per group of ``by`` and per ``seed``, the value of ``along`` whose
  record has the lowest finite ``metric`` at the last epoch present (diverged members left out).

  The spread of these per-seed optima over seeds is the uncertainty of a grid's argmin: a best
  learning rate reported beside it (e.g. "2^-8, per seed -9, -8, -8, -7") says whether an adjacent
  grid point is as good.

  Returns:
    ``{group key: {seed: best value of along}}``, groups in order of first appearance; a seed whose
    every point diverged is absent from its group.

  >>> rows = [{"w": 8, "seed": s, "lr": lr, "epoch": 1, "diverged": False, "train_loss": loss}
  ...         for s, lr, loss in ((0, 0.1, 2.0), (0, 0.2, 1.0), (1, 0.1, 0.5), (1, 0.2, 0.9))]
  >>> per_seed_argmin(rows, ("w",))
  {(8,): {0: 0.2, 1: 0.1}}
  """
  rows = list(records)
  last = max((r["epoch"] for r in rows), default=0)
  best: dict[tuple, dict[Any, tuple[float, Any]]] = {}
  for r in rows:
    group = best.setdefault(tuple(r[k] for k in by), {})
    if r["epoch"] != last or r.get("diverged") or not finite(r[metric]):
      continue
    if r["seed"] not in group or r[metric] < group[r["seed"]][0]:
      group[r["seed"]] = (r[metric], r[along])
  return {k: {s: v for s, (_, v) in sorted(g.items())} for k, g in best.items()}
