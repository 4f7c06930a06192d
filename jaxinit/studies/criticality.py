"""What ``jaxinit theory`` reports: an activation's critical point and one (C_b, C_W) point studied.

:func:`summarize` gathers, from :mod:`jaxinit.theory`, everything the command prints: the critical
point (or why there is none), the point studied, its fixed point ``K*``, ``chi_par(K*)``,
``chi_perp(K*)``, the phase, the depth scales and the kernel ``K(l)`` through depth;
:meth:`TheorySummary.text` is the printed report and :func:`phase_diagram` the figure.

Criticality is decided to a stated accuracy, :data:`RTOL` (relative, 1e-6, about ten float32
roundings): a given ``(C_b, C_W)`` equal to the critical point within it *is* the critical point (its
``K*`` is the critical one, not what :func:`jaxinit.theory.fixed_point` reaches from ``K1``:
for gelu that is another, attracting root of the kernel map near ``K*``); a point is "critical
(edge of chaos)" when ``|chi_perp(K*) - 1| <= RTOL``, and a depth scale whose ``chi`` is within
``RTOL`` of 1 diverges and is reported as ``inf``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import activations, names, theory

__all__ = ["RTOL", "K1_MAX", "DEPTHS", "TheorySummary", "summarize", "phase_diagram"]

RTOL = 1e-6
"""Relative accuracy of "critical": ``|chi - 1| <= RTOL``, and a given point within ``RTOL`` (relative
to ``max(|value|, 1)``) of the critical ``(C_b, C_W)`` is that point."""

K1_MAX = 1e12
"""The largest first-layer kernel :func:`summarize` accepts (:func:`jaxinit.theory.fixed_point`
searches up to 1e12)."""

DEPTHS = (1, 2, 5, 10, 20, 50)
"""The layers :func:`summarize` tabulates ``K(l)`` at by default."""

CRITICAL = "critical (edge of chaos)"

KINDS = {"scale_invariant": "scale-invariant class", "k_star_zero": "K* = 0 class",
         "numerical": "solved numerically"}
"""How the report names each :attr:`jaxinit.theory.Critical.kind`."""


def _aligned(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
  """Left-aligns columns; the last column is not padded."""
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
  padded = ([c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)] + [r[-1]] for r in rows)
  return [(indent + "  ".join(cells)).rstrip() for cells in padded]


@dataclasses.dataclass(frozen=True)
class TheorySummary:
  r"""Infinite-width signal propagation of one activation at one point (what :func:`summarize` finds).

  Attributes:
    activation: the canonical activation name.
    critical: the activation's critical point, or None.
    no_critical_reason: why there is none ("" when there is one).
    C_b, C_W: the point studied (the critical one unless given).
    at_critical: whether the point studied is the critical point (given or not, within
      :data:`RTOL`).
    K1: the first layer's kernel ``K(1)``.
    K_star: the fixed point ``K*`` of the point studied (``K1`` for a scale-invariant activation at
      criticality, where every kernel is fixed; ``inf`` or ``nan`` where the kernel diverges).
    chi_par, chi_perp: :math:`\chi_\parallel(K^*)`, :math:`\chi_\perp(K^*)`.
    phase: ``"critical (edge of chaos)"``, ``"ordered"``, ``"chaotic"``, or ``"undetermined
      (chi_perp is nan)"`` where the kernel has no finite fixed point to evaluate it at.
    xi_q, xi_c: the depth scales (:func:`jaxinit.theory.depth_scales`), ``inf`` where their ``chi``
      is within :data:`RTOL` of 1; ``xi_c > 0`` in both phases (in the chaotic one from the slope
      of the correlation map at its fixed point ``c* < 1``).
    depths: the layers ``l`` of the kernel table, shape ``(D,)``.
    K_D: ``K(l)`` at those layers from ``K(1) = K1``, shape ``(D,)``.
    chi_perp_D: ``chi_perp(K(l))`` at those layers, shape ``(D,)``.
  """

  activation: str
  critical: theory.Critical | None
  no_critical_reason: str
  C_b: float
  C_W: float
  at_critical: bool
  K1: float
  K_star: float
  chi_par: float
  chi_perp: float
  phase: str
  xi_q: float
  xi_c: float
  depths: tuple[int, ...]
  K_D: tuple[float, ...]
  chi_perp_D: tuple[float, ...]

  def lines(self) -> list[str]:
    """The report of ``jaxinit theory``, line by line (without line ends)."""
    out = [f"activation      {self.activation}"]
    crit = self.critical
    if crit is None:
      out.append(f"critical point  none: {self.no_critical_reason}")
    else:
      k_star = "any (K(l) = K(1))" if crit.kind == "scale_invariant" else f"{crit.K_star:.6g}"
      out.append(f"critical point  C_b = {crit.C_b:.6g}, C_W = {crit.C_W:.6g}, K* = {k_star} "
                 f"({KINDS[crit.kind]})")
    rows = [("at", f"C_b = {self.C_b:.6g}, C_W = {self.C_W:.6g}"), ("K*", f"{self.K_star:.6g}"),
            ("chi_par(K*)", f"{self.chi_par:.6g}"), ("chi_perp(K*)", f"{self.chi_perp:.6g}"),
            ("phase", self.phase), ("xi_q", f"{self.xi_q:.6g}"), ("xi_c", f"{self.xi_c:.6g}")]
    out += _aligned(rows, indent="")
    out += ["", f"kernel K(l) from K(1) = {self.K1:g}, and chi_perp(K(l)):"]
    table = [("l", "K(l)", "chi_perp")] + [
        (str(d), f"{K:.6g}", f"{chi:.6g}")
        for d, K, chi in zip(self.depths, self.K_D, self.chi_perp_D, strict=True)]
    return out + _aligned(table)

  def text(self) -> str:
    """:meth:`lines` joined by newlines (no trailing newline): what ``jaxinit theory`` prints."""
    return "\n".join(self.lines())


def _close(value: float, target: float) -> bool:
  """``value`` is ``target`` to :data:`RTOL` (relative to ``max(|target|, 1)``); a target of 0 (the
  critical ``C_b`` of every class but the numerical one) only exactly: any ``C_b > 0`` moves ``K*``
  off 0 and makes the depth scales finite (tanh at ``C_b = 1e-6``: ``xi_c`` = 708)."""
  if target == 0:
    return value == 0
  return abs(value - target) <= RTOL * max(abs(target), 1.0)


def _depths(depths: Sequence[int]) -> tuple[int, ...]:
  out = tuple(depths) if not isinstance(depths, str | bytes) else ()
  if not out or not all(isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 1
                        for d in out):
    raise ValueError(f"depths must be a non-empty sequence of layers (ints >= 1), e.g. (1, 10, 50); "
                     f"got {depths!r}")
  return tuple(int(d) for d in out)


def _phase(chi_perp: float) -> str:
  if math.isnan(chi_perp):
    return "undetermined (chi_perp is nan)"
  if abs(chi_perp - 1) <= RTOL:
    return CRITICAL
  return "ordered" if chi_perp < 1 else "chaotic"


def summarize(activation: theory.Act, C_b: float | None = None, C_W: float | None = None,
              K1: float = 1.0, depths: Sequence[int] = DEPTHS) -> TheorySummary:
  r"""The critical point of ``activation`` and the signal propagation at one ``(C_b, C_W)``.

  Args:
    activation: a registered activation name (e.g. ``"tanh"``, ``"leaky_relu(0.2)"``) or
      :class:`~jaxinit.activations.Activation`.
    C_b: bias variance, ``>= 0``; needs ``C_W``.
    C_W: weight variance times fan-in, ``> 0``. Given alone, ``C_b = 0``; with neither, the critical
      point is studied.
    K1: the first layer's kernel ``K(1) > 0``; the start of the kernel table and of the fixed-point
      iteration.
    depths: the layers ``l >= 1`` to tabulate ``K(l)`` and ``chi_perp(K(l))`` at.

  Returns:
    A :class:`TheorySummary`; its :meth:`~TheorySummary.text` is what ``jaxinit theory`` prints.

  Raises:
    ValueError: an unknown activation, ``C_b`` without ``C_W``, a value out of range, bad
      ``depths``, or no ``C_W`` for an activation without a critical point.
    TypeError: a parameter that is not a number (as :func:`jaxinit.names.check_number`).

  References:
    PDLT ch. 5; Schoenholz et al., *Deep Information Propagation*, ICLR 2017 (depth scales).

  >>> s = summarize("tanh", depths=(1, 10))
  >>> s.at_critical, s.K_star, s.phase, s.xi_c
  (True, 0.0, 'critical (edge of chaos)', inf)
  >>> summarize("tanh", C_W=1.5).phase
  'chaotic'
  """
  act = activations.get(activation)
  depths = _depths(depths)
  if C_b is not None and C_W is None:
    raise ValueError(f"C_b={C_b!r} needs C_W: give both --C-b and --C-W, or --C-W alone (then "
                     "C_b = 0), or neither (then the critical point is studied)")
  K1 = names.check_number("K1", "theory", K1, 0.0, strict=True)
  if K1 > K1_MAX:
    raise ValueError(f"K1={K1:g} is beyond float32 theory's range (K(l) and its expectations overflow "
                     f"or lose their digits); accepted: 0 < K1 <= {K1_MAX:g}")
  if C_W is not None:
    C_b = names.check_number("C_b", "theory", 0.0 if C_b is None else C_b, 0.0)
    C_W = names.check_number("C_W", "theory", C_W, 0.0, strict=True)
  try:
    crit, reason = theory.critical_point(act), ""
  except ValueError as e:
    crit, reason = None, str(e)
  if crit is None and C_W is None:
    raise ValueError(f"{reason}; to study {act.name} anyway give C_W (--C-W), and C_b (--C-b) if "
                     "not 0, for a point of your choice")
  at_critical = crit is not None and (C_W is None or (_close(C_b, crit.C_b) and _close(C_W, crit.C_W)))
  if C_W is None:
    C_b, C_W = crit.C_b, crit.C_W
  C_b, C_W = float(C_b), float(C_W)
  if at_critical:  # a scale-invariant activation's every kernel is fixed: K(l) = K(1)
    K_star = K1 if crit.kind == "scale_invariant" else crit.K_star
  else:
    K_star = float(theory.fixed_point(act, C_b, C_W, K0=K1))
  chi_par, chi_perp, *xi, Ks, chi_L = (np.asarray(v, np.float64) for v in _point(
      act, max(depths))(*(jnp.float32(v) for v in (C_b, C_W, K_star, K1))))
  chi_par, chi_perp = float(chi_par), float(chi_perp)
  xi_q, xi_c = (math.inf if abs(chi - 1) <= RTOL else float(x)
                for chi, x in zip((chi_par, chi_perp), xi, strict=True))
  K_D = tuple(float(Ks[d - 1]) for d in depths)
  chi_D = tuple(float(chi_L[d - 1]) for d in depths)
  return TheorySummary(
      activation=act.name, critical=crit, no_critical_reason=reason, C_b=C_b, C_W=C_W,
      at_critical=at_critical, K1=float(K1), K_star=float(K_star), chi_par=chi_par, chi_perp=chi_perp,
      phase=_phase(chi_perp), xi_q=xi_q, xi_c=xi_c, depths=depths,
      K_D=K_D, chi_perp_D=chi_D)


@functools.cache
def _point(act: activations.Activation, depth: int) -> Any:
  """One compiled program per activation and depth: ``(C_b, C_W, K*, K1) -> (chi_par, chi_perp,
  xi_q, xi_c, K(1..depth), chi_perp(K(1..depth)))`` (op by op, the same took 15-40 s)."""
  def point(C_b, C_W, K_star, K1):
    xi_q, xi_c = theory.depth_scales(act, C_b, C_W, K_star)
    Ks = theory.kernel_recursion(act, C_b, C_W, K1, depth)
    return (theory.chi_parallel(act, C_W, K_star), theory.chi_perp(act, C_W, K_star), xi_q, xi_c,
            Ks, jax.vmap(lambda K: theory.chi_perp(act, C_W, K))(Ks))
  return jax.jit(point)


def phase_diagram(source: TheorySummary | theory.Act, path: str | Path, *, C_b: float | None = None,
                  C_W: float | None = None) -> Path:
  r"""Writes the ``(C_W, C_b)`` phase diagram, :math:`\log\chi_\perp(K^*)` around one point.

  The grid spans ``C_W`` in ``[0.25, 2.5] x C_W`` (91 values) and ``C_b`` in ``[0, max(0.5, 3 C_b)]``
  (41 values); :func:`jaxinit.theory.phase` on all of it in one ``jit(vmap(vmap))`` call, drawn by
  :func:`jaxinit.results.plots.phase_diagram`.

  Args:
    source: a :class:`TheorySummary` (its activation and point), or an activation name (then
      ``C_W`` is needed; ``C_b`` defaults to 0).
    path: where to write (``.png``, ``.pdf`` or ``.svg``).
    C_b, C_W: the point around which the grid is laid, for an activation ``source``; with a summary
      they must be left out.

  Returns:
    ``path`` as a Path.

  Raises:
    ValueError: a path of another format, a point given twice or not at all, or out of range.
  """
  from jaxinit.results import plots

  path = plots.check_path(path)
  if isinstance(source, TheorySummary):
    if C_b is not None or C_W is not None:
      raise ValueError("the summary carries its point; give C_b and C_W only with an activation name")
    act, C_b, C_W = activations.get(source.activation), source.C_b, source.C_W
  else:
    act = activations.get(source)
    if C_W is None:
      raise ValueError(f"the phase diagram of {act.name} needs C_W (and C_b, default 0), the point "
                       "its grid is laid around; or pass a TheorySummary")
    C_b = names.check_number("C_b", "phase_diagram", 0.0 if C_b is None else C_b, 0.0)
    C_W = names.check_number("C_W", "phase_diagram", C_W, 0.0, strict=True)
  C_W_grid = np.linspace(0.25 * C_W, 2.5 * C_W, 91)
  C_b_grid = np.linspace(0.0, max(0.5, 3 * C_b), 41)
  chi_BW = jax.jit(jax.vmap(jax.vmap(lambda b, w: theory.phase(act, b, w), (None, 0)), (0, None)))(
      jnp.asarray(C_b_grid), jnp.asarray(C_W_grid))
  plots.phase_diagram(C_W_grid, C_b_grid, np.asarray(chi_BW), path, title=act.name)
  return path
