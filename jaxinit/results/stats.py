"""Statistics over the members of a sweep: one group-by (:func:`group`) and a t quantile.

:func:`group` reduces any rows to one row per group (the sweep's and the diagnostics' tables use
it): the mean, the sample std and the Student-t 95% half-width of each metric. :func:`summarize`
applies it to a sweep's records at one epoch, diverged members excluded and counted. No scipy is
needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from jaxinit.results.records import METRICS

__all__ = ["SPREADS", "t_quantile", "t_two_sided_p", "summarize", "group", "per_seed_argmin"]

SPREADS = ("ci95", "std", "std_ci95")
"""The spreads a table can show after the mean: :func:`summarize`'s columns ``<m>_ci95`` and
``<m>_std``, or both (``std_ci95``: the std, then the 95% half-width in parentheses)."""


def _betainc(a: float, b: float, x: float, y: float) -> float:
  """The regularized incomplete beta ``I_x(a, b)``, ``y = 1 - x`` given separately for accuracy
  (continued fraction by the modified Lentz method, as in Numerical Recipes' ``betai``)."""
  if x <= 0.0 or y <= 0.0:
    return 0.0 if x <= 0.0 else 1.0
  if x > (a + 1.0) / (a + b + 2.0):
    return 1.0 - _betainc(b, a, y, x)
  log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
  tiny = 1e-300
  c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
  d = 1.0 / (d if abs(d) > tiny else tiny)
  h = d
  for m in range(1, 100_000):
    for aa in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
               -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
      d, c = 1.0 + aa * d, 1.0 + aa / c
      d, c = 1.0 / (d if abs(d) > tiny else tiny), (c if abs(c) > tiny else tiny)
      h *= d * c
    if abs(d * c - 1.0) < 1e-15:
      break
  return math.exp(log_front) * h / a


def t_two_sided_p(t: float, df: float) -> float:
  """The two-sided tail ``P(|T| >= |t|)`` of Student's t with ``df`` degrees of freedom.

  Computed as the regularized incomplete beta ``I_{df / (df + t^2)}(df / 2, 1 / 2)`` (the function
  :func:`t_quantile` inverts); agrees with ``2 * scipy.stats.t.sf(|t|, df)`` to
  ~1e-12 relative.

  >>> round(t_two_sided_p(2.228138851986, 10), 6)
  0.05

  Raises:
    ValueError: ``df`` not a positive finite number, or ``t`` NaN.
  """
  if not 0.0 < df < math.inf or t != t:
    raise ValueError(f"t_two_sided_p(t={t}, df={df}) is not defined; accepted: a number t and a "
                     "positive finite df")
  if math.isinf(t):
    return 0.0
  t2 = t * t
  return _betainc(df / 2, 0.5, df / (df + t2), t2 / (df + t2))


def t_quantile(p: float, df: float) -> float:
  """The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom (no scipy).

  Bisection on the tail ``P(T > t) = I_{df / (df + t^2)}(df / 2, 1 / 2) / 2`` to float64 precision;
  agrees with ``scipy.stats.t.ppf`` to ~1e-12.

  >>> round(t_quantile(0.975, 10), 6), round(t_quantile(0.025, 1), 4)
  (2.228139, -12.7062)

  Raises:
    ValueError: ``p`` outside (0, 1) or ``df`` not a positive finite number.
  """
  if not (0.0 < p < 1.0 and 0.0 < df < math.inf):
    raise ValueError(f"t_quantile(p={p}, df={df}) is not defined; accepted: 0 < p < 1 and a "
                     "positive finite df")
  if p == 0.5:
    return 0.0
  q = min(p, 1.0 - p)
  tail = lambda t: 0.5 * t_two_sided_p(t, df)
  lo, hi = 0.0, 1.0
  while tail(hi) > q:
    lo, hi = hi, 2.0 * hi
  while hi - lo > 4e-16 * hi:
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if tail(mid) > q else (lo, mid)
  t = 0.5 * (lo + hi)
  return t if p > 0.5 else -t


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
    ``<m>_std`` (ddof=1) and ``<m>_ci95`` (``t_quantile(0.975, n - 1) * std / sqrt(n)``); the std
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
      out[f"{m}_ci95"] = t_quantile(0.975, n - 1) * std / math.sqrt(n) if n >= 2 else math.nan
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
