"""An independent float64 reference for jaxinit.theory: adaptive scipy quadrature of plain-Python
activations (``math``, not JAX), so neither the functions nor the rules are shared with the library.

* :func:`expectation`: ``E[f(z)]``, ``z ~ N(0, K)``, in ``x = z / sqrt(K)`` on ``[-12, 12]`` split at
  0 (the mass beyond 12 is 4e-33).
* :func:`cross`: ``E[s(z1) s(z2)]`` for a 2x2 covariance, as a nested ``quad``: ``z1 = sqrt(K11) x``,
  ``z2 = c x + d y``; the inner integral over ``y`` is split at 0 and at the kink ``z2 = 0``.
* :func:`kernel_recursion`, :func:`correlation_recursion`: the depth recursions on top of them.

Every ``quad`` asks for 1e-12 relative; a few hundred microseconds to a second per value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from scipy import integrate

REACH = 12.0
SELU = (1.0507009873554804934193349852946, 1.6732632423543772848170429916717)

Fn = Callable[[float], float]


def _sigmoid(z: float) -> float:
  return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _phi(z: float) -> float:
  return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def functions(name: str) -> tuple[Fn, Fn]:
  """``(s, s')`` as Python float functions, for a canonical activation name."""
  kind, _, arg = name.partition("(")
  value = float(arg.rstrip(")").split("=")[-1]) if arg else None
  if kind == "leaky_relu":
    a = 0.01 if value is None else value
    return (lambda z: z if z >= 0 else a * z), (lambda z: 1.0 if z >= 0 else a)
  if kind == "elu":
    al = 1.0 if value is None else value
    return (lambda z: z if z > 0 else al * math.expm1(z)), (lambda z: 1.0 if z > 0 else al * math.exp(z))
  Phi = lambda z: (1 + math.erf(z / math.sqrt(2))) / 2
  table: dict[str, tuple[Fn, Fn]] = {
      "linear": (lambda z: z, lambda z: 1.0),
      "relu": (lambda z: max(z, 0.0), lambda z: 1.0 if z > 0 else 0.0),
      "tanh": (math.tanh, lambda z: 1 / math.cosh(z) ** 2 if abs(z) < 350 else 0.0),
      "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * _sigmoid(-z)),
      "erf": (math.erf, lambda z: 2 / math.sqrt(math.pi) * math.exp(-z * z)),
      "gelu": (lambda z: z * Phi(z), lambda z: Phi(z) + z * _phi(z)),
      "selu": (lambda z: SELU[0] * (z if z > 0 else SELU[1] * math.expm1(z)),
               lambda z: SELU[0] * (1.0 if z > 0 else SELU[1] * math.exp(z))),
      "silu": (lambda z: z * _sigmoid(z), lambda z: _sigmoid(z) * (1 + z * _sigmoid(-z))),
      "softplus": (lambda z: max(z, 0.0) + math.log1p(math.exp(-abs(z))), _sigmoid),
      "sin": (math.sin, math.cos),
  }
  return table[kind]


def _quad(g: Fn, points: list[float]) -> float:
  points = sorted(set(points))
  return sum(integrate.quad(g, lo, hi, epsabs=0, epsrel=1e-12, limit=400)[0]
             for lo, hi in itertools.pairwise(points))


def expectation(f: Fn, K: float) -> float:
  """E[f(z)], z ~ N(0, K)."""
  r = math.sqrt(K)
  return _quad(lambda x: f(r * x) * _phi(x), [-REACH, 0.0, REACH])


def cross(s: Fn, K11: float, K12: float, K22: float) -> float:
  """E[s(z1) s(z2)] for (z1, z2) ~ N(0, [[K11, K12], [K12, K22]]), K11 > 0."""
  a = math.sqrt(K11)
  c = K12 / a
  d = math.sqrt(max(K22 - c * c, 0.0))

  def inner(x: float) -> float:
    if d == 0:
      return s(c * x)
    kink = -c * x / d
    return _quad(lambda y: s(c * x + d * y) * _phi(y),
                 [-REACH, 0.0, REACH] + ([kink] if abs(kink) < REACH else []))

  return _quad(lambda x: s(a * x) * inner(x) * _phi(x), [-REACH, 0.0, REACH])


def kernel_recursion(name: str, C_b: float, C_W: float, K1: float, depth: int) -> np.ndarray:
  """K(1..depth) of K(l+1) = C_b + C_W <s^2>_{K(l)}."""
  s, _ = functions(name)
  Ks = [K1]
  for _ in range(depth - 1):
    Ks.append(C_b + C_W * expectation(lambda z: s(z) ** 2, Ks[-1]))
  return np.array(Ks)


def correlation_recursion(name: str, C_b: float, C_W: float, K11: float, K12: float, K22: float,
                          depth: int) -> np.ndarray:
  """c(1..depth) = K12(l) / sqrt(K11(l) K22(l)) of the two-input kernel recursion."""
  s, _ = functions(name)
  out = []
  for _ in range(depth):
    out.append(K12 / math.sqrt(K11 * K22))
    K11, K12, K22 = (C_b + C_W * expectation(lambda z: s(z) ** 2, K11),
                     C_b + C_W * cross(s, K11, K12, K22),
                     C_b + C_W * expectation(lambda z: s(z) ** 2, K22))
  return np.array(out)
