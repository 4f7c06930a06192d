"""Signal-propagation theory at infinite width: Gaussian expectations, kernel recursion, criticality.

Notation of Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory* (PDLT), ch. 4-5: an MLP
``z(l+1) = W(l+1) s(z(l)) + b(l+1)`` with ``W ~ N(0, C_W / fan_in)`` and ``b ~ N(0, C_b)``;
``<f>_K = E[f(z)]``, ``z ~ N(0, K)``. At infinite width the preactivation variance follows
``K(l+1) = C_b + C_W <s^2>_{K(l)}``. Closed forms where they exist (ReLU, leaky ReLU, linear, erf),
Gauss-Hermite quadrature for any registered activation. Everything is pure JAX: ``C_b``, ``C_W``
and ``K`` may be traced, so ``jax.vmap`` over a grid of ``(C_b, C_W)`` computes a phase diagram in
one call; the activation is a static (Python) argument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import activations

__all__ = [
    "DEFAULT_NODES", "gaussian_expectation", "bivariate_expectation", "second_moment",
    "derivative_moment", "chi_parallel", "chi_perp", "kernel_recursion", "fixed_point",
    "depth_scales", "correlation_step", "relu_arccos_kernel",
]

Act = str | activations.Activation
ArrayLike = jax.typing.ArrayLike

DEFAULT_NODES = 160
"""Quadrature nodes. Smooth integrands (tanh, erf, gelu) reach float32 rounding; 64 nodes would err
by 3e-3 for tanh at K=10. Piecewise-linear ones (relu, leaky relu) are exact at any even count;
integrands with a kink but curved on one side (elu, selu) converge slowly: ~1e-5 relative here."""


@functools.cache
def _hermite_e(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
  """Probabilists' Gauss-Hermite nodes and weights, normalised so the weights sum to 1."""
  x, w = np.polynomial.hermite_e.hermegauss(num_nodes)
  return x, w / w.sum()


def _float(x: ArrayLike) -> jax.Array:
  return jnp.asarray(x, dtype=jnp.result_type(float))


def gaussian_expectation(f: Callable[[jax.Array], jax.Array], K: ArrayLike,
                         num_nodes: int = DEFAULT_NODES) -> jax.Array:
  r"""Returns :math:`\langle f\rangle_K = E[f(z)]`, :math:`z \sim N(0, K)`.

  Args:
    f: elementwise function, e.g. an activation or ``lambda z: act(z) ** 2``.
    K: variance (scalar, may be traced), ``K >= 0``.
    num_nodes: Gauss-Hermite nodes; the even default puts no node at 0, so odd and
      piecewise-linear integrands such as ``relu(z)^2`` are integrated exactly.

  Returns:
    A scalar in the dtype of ``K`` (float32 unless x64 is enabled).

  >>> float(gaussian_expectation(lambda z: z ** 2, 2.0))  # doctest: +ELLIPSIS
  2.0...
  """
  x, w = _hermite_e(num_nodes)
  K = _float(K)
  return jnp.sum(jnp.asarray(w, K.dtype) * f(jnp.sqrt(K) * jnp.asarray(x, K.dtype)))


def bivariate_expectation(f: Callable[[jax.Array, jax.Array], jax.Array], K11: ArrayLike,
                          K12: ArrayLike, K22: ArrayLike, num_nodes: int = 96) -> jax.Array:
  r"""Returns :math:`E[f(z_1, z_2)]` for :math:`(z_1, z_2) \sim N(0, [[K_{11}, K_{12}], [K_{12},
  K_{22}]])`, by a tensor-product Gauss-Hermite rule on the Cholesky factor.

  Args:
    f: ``f(z1, z2)``, elementwise.
    K11, K12, K22: the 2x2 covariance (scalars, may be traced), positive semi-definite.
    num_nodes: nodes per dimension (``num_nodes^2`` evaluations).

  Returns:
    A scalar.
  """
  x, w = _hermite_e(num_nodes)
  K11, K12, K22 = _float(K11), _float(K12), _float(K22)
  x, w = jnp.asarray(x, K11.dtype), jnp.asarray(w, K11.dtype)
  a = jnp.sqrt(K11)
  c = jnp.where(a > 0, K12 / jnp.where(a > 0, a, 1), 0.0)
  d = jnp.sqrt(jnp.maximum(K22 - c * c, 0.0))
  z1 = a * x[:, None]
  z2 = c * x[:, None] + d * x[None, :]
  return jnp.sum(w[:, None] * w[None, :] * f(z1, z2))


_CLOSED_FORMS = ("linear", "relu", "leaky_relu", "erf")


def _slope(act: activations.Activation) -> Callable[[jax.Array], jax.Array]:
  """The activation's derivative, elementwise."""
  return jnp.vectorize(jax.grad(act.fn))


def second_moment(activation: Act, K: ArrayLike) -> jax.Array:
  r""":math:`\langle s(z)^2 \rangle_K`: closed form for relu, leaky relu, linear and erf
  (:math:`\frac{2}{\pi}\arcsin\frac{2K}{1+2K}`), Gauss-Hermite quadrature otherwise."""
  act, K = activations.get(activation), _float(K)
  if act.kind == "linear":
    return K
  if act.kind == "relu":
    return K / 2
  if act.kind == "leaky_relu":
    a = dict(act.params)["negative_slope"]
    return (1 + a * a) * K / 2
  if act.kind == "erf":
    return 2 / jnp.pi * jnp.arcsin(2 * K / (1 + 2 * K))
  return gaussian_expectation(lambda z: act(z) ** 2, K)


def derivative_moment(activation: Act, K: ArrayLike) -> jax.Array:
  r""":math:`\langle s'(z)^2 \rangle_K`: closed form for relu (1/2), leaky relu
  (:math:`(1+a^2)/2`), linear (1) and erf (:math:`\frac{4}{\pi\sqrt{1+4K}}`), else quadrature."""
  act, K = activations.get(activation), _float(K)
  if act.kind == "linear":
    return jnp.ones_like(K)
  if act.kind == "relu":
    return jnp.full_like(K, 0.5)
  if act.kind == "leaky_relu":
    a = dict(act.params)["negative_slope"]
    return jnp.full_like(K, (1 + a * a) / 2)
  if act.kind == "erf":
    return 4 / (jnp.pi * jnp.sqrt(1 + 4 * K))
  slope = _slope(act)
  return gaussian_expectation(lambda z: slope(z) ** 2, K)


def chi_parallel(activation: Act, C_W: ArrayLike, K: ArrayLike) -> jax.Array:
  r""":math:`\chi_\parallel(K) = C_W\, d\langle s^2\rangle_K / dK`, how a change of the kernel
  propagates one layer.

  The derivative of the closed form where :func:`second_moment` has one. Otherwise quadrature of
  :math:`\langle s^2 (z^2 - K)\rangle_K / 2K^2` (PDLT eq. 5.9; float32-accurate from K = 1e-2 to
  K ~ 4 against scipy), and at :math:`K \to 0` of the integration-by-parts form
  :math:`\langle s'^2 + s s''\rangle_K`, which stays finite there.
  """
  act, K = activations.get(activation), _float(K)
  if act.kind in _CLOSED_FORMS:
    return _float(C_W) * jax.grad(lambda k: second_moment(act, k))(K)
  small = K < 1e-3
  K_safe = jnp.where(small, 1.0, K)
  stein = gaussian_expectation(lambda z: act(z) ** 2 * (z * z - K_safe), K_safe) / (2 * K_safe ** 2)
  slope, curvature = _slope(act), jnp.vectorize(jax.grad(jax.grad(act.fn)))
  by_parts = gaussian_expectation(lambda z: slope(z) ** 2 + act(z) * curvature(z), K)
  return _float(C_W) * jnp.where(small, by_parts, stein)


def chi_perp(activation: Act, C_W: ArrayLike, K: ArrayLike) -> jax.Array:
  r""":math:`\chi_\perp(K) = C_W \langle s'(z)^2\rangle_K` (:math:`\chi_1` of Schoenholz et al.
  2017): how the distance between two nearby inputs, and a gradient, grows per layer."""
  return _float(C_W) * derivative_moment(activation, K)


def kernel_recursion(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K1: ArrayLike,
                     depth: int) -> jax.Array:
  r"""The single-input kernel through depth, :math:`K(l+1) = C_b + C_W \langle s^2\rangle_{K(l)}`.

  Args:
    activation: name or :class:`~jaxinit.activations.Activation` (static).
    C_b, C_W: bias and weight variances (may be traced).
    K1: the first layer's kernel, ``C_b + C_W |x|^2 / n0``.
    depth: number of layers ``L`` (static).

  Returns:
    ``K_L``: shape ``(depth,)``, ``K_L[l - 1] = K(l)``.
  """
  C_b, C_W = _float(C_b), _float(C_W)

  def step(K, _):
    return C_b + C_W * second_moment(activation, K), K

  _, Ks = jax.lax.scan(step, _float(K1), None, length=depth)
  return Ks


def fixed_point(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K0: ArrayLike = 1.0,
                iterations: int = 2000) -> jax.Array:
  r"""The fixed point :math:`K^*` of the kernel recursion, by iterating it from ``K0``.

  Converges geometrically (rate :math:`\chi_\parallel(K^*)`) off criticality; at criticality of
  the :math:`K^*=0` class (tanh, erf at ``C_b = 0``) the approach is a power law, ``K ~ 1/l``.
  Returns ``inf`` where the kernel diverges (e.g. relu with :math:`C_W > 2`).
  """
  C_b, C_W = _float(C_b), _float(C_W)
  return jax.lax.fori_loop(
      0, iterations, lambda _, K: C_b + C_W * second_moment(activation, K), _float(K0))


def depth_scales(activation: Act, C_b: ArrayLike, C_W: ArrayLike,
                 K_star: ArrayLike) -> tuple[jax.Array, jax.Array]:
  r"""``(xi_q, xi_c)``: :math:`\xi_q = -1/\log\chi_\parallel(K^*)`, :math:`\xi_c = -1/\log
  \chi_\perp(K^*)` (Schoenholz et al. 2017), the depths over which the kernel and the correlation
  of two inputs approach their fixed points. ``xi_c`` diverges at the edge of chaos
  (:math:`\chi_\perp = 1`); it is negative in the chaotic phase, where :math:`|\xi_c|` is the
  decorrelation depth."""
  del C_b  # the scales depend on C_b through K_star only
  return (-1 / jnp.log(chi_parallel(activation, C_W, K_star)),
          -1 / jnp.log(chi_perp(activation, C_W, K_star)))


def relu_arccos_kernel(q1: ArrayLike, q2: ArrayLike, c: ArrayLike) -> jax.Array:
  r""":math:`E[\mathrm{relu}(z_1)\mathrm{relu}(z_2)]` for variances ``q1``, ``q2`` and covariance
  ``c`` (the arc-cosine kernel of Cho & Saul 2009):
  :math:`\frac{\sqrt{q_1 q_2}}{2\pi}(\sin t + (\pi - t)\cos t)`, :math:`t = \arccos(c/\sqrt{q_1
  q_2})`."""
  q1, q2, c = _float(q1), _float(q2), _float(c)
  norm = jnp.sqrt(q1 * q2)
  t = jnp.arccos(jnp.clip(c / norm, -1.0, 1.0))
  return norm / (2 * jnp.pi) * (jnp.sin(t) + (jnp.pi - t) * jnp.cos(t))


def correlation_step(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K11: ArrayLike,
                     K12: ArrayLike, K22: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
  r"""One layer of the two-input kernel (the correlation map of Schoenholz et al. 2017).

  Returns:
    ``(K11', K12', K22')`` with :math:`K'_{ab} = C_b + C_W E[s(z_a) s(z_b)]`; the closed
    arc-cosine kernel for relu, bivariate quadrature otherwise. The correlation is
    ``K12' / sqrt(K11' K22')``.
  """
  act = activations.get(activation)
  C_b, C_W = _float(C_b), _float(C_W)
  if act.kind == "relu":
    cross = relu_arccos_kernel(K11, K22, K12)
  else:
    cross = bivariate_expectation(lambda a, b: act(a) * act(b), K11, K12, K22)
  return (C_b + C_W * second_moment(act, K11), C_b + C_W * cross,
          C_b + C_W * second_moment(act, K22))
