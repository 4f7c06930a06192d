"""Signal-propagation theory at infinite width: Gaussian expectations, kernel recursion, criticality.

Notation of Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory* (PDLT), ch. 4-5: an MLP
``z(l+1) = W(l+1) s(z(l)) + b(l+1)`` with ``W ~ N(0, C_W / fan_in)`` and ``b ~ N(0, C_b)``;
``<f>_K = E[f(z)]``, ``z ~ N(0, K)``. At infinite width the preactivation variance follows
``K(l+1) = C_b + C_W <s^2>_{K(l)}``. Closed forms where they exist (ReLU, leaky ReLU, linear, erf,
sin), a kink- and scale-aware quadrature (:func:`panel_rule`) for any registered activation, and
for the two-input cross term the same rule conditioned on one input (:func:`bivariate_expectation`).
Everything is pure JAX: ``C_b``, ``C_W`` and ``K`` may be traced, so ``jax.vmap`` over a grid of
``(C_b, C_W)`` computes a phase diagram in one call; the activation is a static (Python) argument:
a registered name, an :class:`~jaxinit.activations.Activation`, or any elementwise ``jax.numpy``
function (:func:`as_activation`).

Accuracy contract (tests/test_theory_accuracy.py, against adaptive scipy quadrature of independent
plain-Python activations): for every registered activation, ``K`` in [1e-3, 1e3] and correlations
in [-0.999, 0.999], :func:`second_moment`, :func:`derivative_moment`, :func:`chi_parallel`,
``finite_width.fourth_moment`` and the cross term of :func:`correlation_step` agree with the
reference to 1e-6 relative in float64 (measured worst: 3.2e-8, the fourth moment) and to 8 float32
ulps (9.5e-7) in float32 (measured worst: 3.7e-7); a value whose reference is ~0 (below 1e-12,
e.g. sin's ``chi_parallel`` at large ``K``) is held to 1e-12 absolute, and cross terms are relative
to ``sqrt(<s^2>_K11 <s^2>_K22)``, the scale of a correlation. Deep kernels and
correlations over 20 layers inherit it (31 configurations, 1e-6). Outside that range the rules are
not tested: below ``K = 1e-3`` an activation is nearly linear over the panels, which makes them
easy, while above 1e3 its structure shrinks toward the finest panel (1e-3 in units of ``sqrt(K)``).

On top: the order-to-chaos :func:`phase` (``chi_perp`` at the fixed point), the correlation map
(:func:`correlation_recursion`, :func:`correlation_fixed_point`, :func:`chi_c`; Schoenholz et al.,
*Deep Information Propagation*, ICLR 2017), backward gradient growth (:func:`gradient_norm_ratio`)
and :func:`critical_point`, the ``(C_b, C_W)`` for ``variance_scaling(scale=C_W, mode="fan_in")``
kernels and ``normal(stddev=sqrt(C_b))`` biases.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import activations

__all__ = [
    "REACH", "PANELS", "INNER", "panel_rule", "gaussian_expectation", "bivariate_expectation",
    "Act", "as_activation", "slope", "second_moment", "derivative_moment", "chi_parallel", "chi_perp",
    "kernel_recursion", "FIXED_POINT_RTOL", "fixed_point", "depth_scales", "correlation_slope",
    "correlation_step", "relu_arccos_kernel", "phase_point", "phase", "correlation_recursion",
    "correlation_fixed_point", "chi_c", "gradient_norm_ratio", "Critical", "critical_point",
]

Act = str | activations.Activation | Callable[[jax.Array], jax.Array]
ArrayLike = jax.typing.ArrayLike


@dataclasses.dataclass(frozen=True, eq=False)
class _Function(activations.Activation):
  """An activation given as a plain function: equal only to one wrapping the same function, so
  programs compiled for it (the activation is a static argument) and results cached per activation
  are its own, never another function's of the same name."""

  def __eq__(self, other: object) -> bool:
    return isinstance(other, _Function) and other.fn is self.fn

  def __hash__(self) -> int:
    return hash(self.fn)


def as_activation(activation: Act) -> activations.Activation:
  """The :class:`~jaxinit.activations.Activation` every function here works with.

  Args:
    activation: a registered name (``"tanh"``, ``"leaky_relu(0.2)"``), an
      :class:`~jaxinit.activations.Activation`, or any elementwise function written with
      ``jax.numpy``, e.g. mish, ``lambda x: x * jnp.tanh(jax.nn.softplus(x))``. A function goes
      through the numerical path (quadrature, autodiff), never a closed form or a derivative
      written out for a registered activation, even one it equals; it is named by its
      ``__name__`` in angle brackets (``<lambda>``, ``<mish>``), and equal only to itself.

  Returns:
    The :class:`~jaxinit.activations.Activation`.

  Raises:
    TypeError: neither a string, an Activation nor a callable.
    ValueError: an unknown name; a function JAX cannot trace, or that does not map an array to a
      floating array of the same shape.
  """
  if isinstance(activation, (str, activations.Activation)):
    return activations.get(activation)
  if not callable(activation):
    raise TypeError(f"activation {activation!r} is a {type(activation).__name__}; accepted: a name "
                    "such as 'tanh', an Activation, or an elementwise function")
  name = getattr(activation, "__name__", type(activation).__name__)
  name = name if name.startswith("<") else f"<{name}>"
  x = jax.ShapeDtypeStruct((3,), jnp.float32)
  try:
    out = jax.eval_shape(activation, x)
  except Exception as e:  # the user's function: say which, and what it must be
    first_line = str(e).partition("\n")[0]
    raise ValueError(f"activation {name} cannot be traced by JAX ({type(e).__name__}: {first_line}); "
                     "accepted: an elementwise function written with jax.numpy") from None
  if getattr(out, "shape", None) != x.shape or not jnp.issubdtype(out.dtype, jnp.floating):
    raise ValueError(
        f"activation {name} maps a float32 array of shape {x.shape} to {out!r}; accepted: an "
        "elementwise function, returning a floating array of its input's shape")
  return _Function(name, activation)


REACH = 10.0
"""Both rules integrate the standard normal over ``[-REACH, REACH]`` (the mass beyond is 1.5e-23)."""


PANELS = (12, 8)
"""(panels, Gauss-Legendre order) per side of 0 of :func:`panel_rule`."""


@functools.cache
def _hermite_e(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
  """Probabilists' Gauss-Hermite nodes and weights, normalised so the weights sum to 1."""
  x, w = np.polynomial.hermite_e.hermegauss(num_nodes)
  return x, w / w.sum()


@functools.cache
def panel_rule(panels: int = PANELS[0], order: int = PANELS[1], smallest: float = 1e-3
               ) -> tuple[np.ndarray, np.ndarray]:
  """Nodes and weights for ``E[f(x)]``, ``x ~ N(0, 1)``: Gauss-Legendre of ``order`` on
  ``[0, smallest]`` and ``panels`` geometric panels of ``[smallest, 10]``, each side of 0.

  The split at 0 integrates a kink there (relu-like, elu, selu, their derivatives) piece by piece,
  and the geometric panels follow a function whose scale in ``x`` is ``1/sqrt(K)`` (tanh, erf,
  sigmoid saturating at large K). The defaults (2 x 13 x 8 = 208 nodes, about the cost of 160
  Gauss-Hermite ones) reach 7e-9 relative on ``<s^2>_K`` for every registered activation without
  a closed form, K in [1e-3, 1e3], against adaptive scipy quadrature in float64
  (tests/test_theory_accuracy.py); in float32 the sum's rounding (~1e-7) dominates. The tail beyond
  ``|x| = 10`` (mass 1.5e-23) is dropped.
  """
  edges = np.concatenate([[0.0], np.geomspace(smallest, REACH, panels + 1)])
  g, gw = np.polynomial.legendre.leggauss(order)
  half = (edges[1:] - edges[:-1])[:, None] / 2
  x = (half * g + (edges[1:] + edges[:-1])[:, None] / 2).ravel()
  w = (half * gw).ravel() * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
  return np.concatenate([-x[::-1], x]), np.concatenate([w[::-1], w])


def _float(x: ArrayLike) -> jax.Array:
  return jnp.asarray(x, dtype=jnp.result_type(float))


def gaussian_expectation(f: Callable[[jax.Array], jax.Array], K: ArrayLike,
                         num_nodes: int | None = None) -> jax.Array:
  r"""Returns :math:`\langle f\rangle_K = E[f(z)]`, :math:`z \sim N(0, K)`.

  Args:
    f: elementwise function, e.g. an activation or ``lambda z: act(z) ** 2``.
    K: variance (scalar, may be traced), ``K >= 0``.
    num_nodes: None for :func:`panel_rule` (kink- and scale-aware, ~1e-8 relative for an
      activation's moments, see the module's accuracy contract); a number for a plain Gauss-Hermite
      rule of that many nodes.

  Returns:
    A scalar in the dtype of ``K`` (float32 unless x64 is enabled).

  >>> round(float(gaussian_expectation(lambda z: z ** 2, 2.0)), 6)  # float32: 1 ulp below 2
  2.0
  """
  return _expectation(panel_rule() if num_nodes is None else _hermite_e(num_nodes), f, K)


def _expectation(rule: tuple[np.ndarray, np.ndarray], f: Callable[[jax.Array], jax.Array],
                 K: ArrayLike) -> jax.Array:
  """``sum(w * f(sqrt(K) x))`` for a rule ``(x, w)`` of the standard normal."""
  (x, w), K = rule, _float(K)
  return jnp.sum(jnp.asarray(w, K.dtype) * f(jnp.sqrt(K) * jnp.asarray(x, K.dtype)))


INNER = (6, 10, 6)
"""The inner rule of :func:`bivariate_expectation`, per side of the split point: ``6`` geometric
panels from 1e-3 to 0.05 of the side, then ``10`` uniform ones, Gauss-Legendre of order ``6``
(2 x 16 panels: 192 nodes)."""


@functools.cache
def _inner_parts(geometric: int, uniform: int, order: int) -> tuple[np.ndarray, ...]:
  """Legendre nodes and weights on [-1, 1], and the panel edges of one side as fractions of it."""
  g, gw = np.polynomial.legendre.leggauss(order)
  edges = np.concatenate([[0.0], np.geomspace(1e-3, 0.05, geometric),
                          np.linspace(0.05, 1.0, uniform + 1)[1:]])
  return g, gw, edges


def bivariate_expectation(f: Callable[[jax.Array, jax.Array], jax.Array], K11: ArrayLike,
                          K12: ArrayLike, K22: ArrayLike, num_nodes: int | None = None
                          ) -> jax.Array:
  r"""Returns :math:`E[f(z_1, z_2)]` for :math:`(z_1, z_2) \sim N(0, [[K_{11}, K_{12}], [K_{12},
  K_{22}]])`, conditioning on one variable.

  Write :math:`z_1 = \sqrt{K_{11}}\, x`, :math:`z_2 = c x + d y` with ``x, y`` independent standard
  normals, :math:`c = K_{12}/\sqrt{K_{11}}`, :math:`d^2 = K_{22} - c^2`. The outer integral over ``x``
  is :func:`panel_rule` (split at ``z1 = 0``, geometric panels for any scale); the inner one over
  ``y`` at each outer node is split where ``z2 = 0``, ``y0 = -c x / d``, with geometric panels either
  side of ``y0`` (a kink there, or a transition of width ``1/d`` for a saturating ``f`` at large
  variance) followed by uniform ones out to ``+-10`` (the Gaussian's bulk), :data:`INNER`. So ``f``
  may have a kink or a sharp transition where ``z1 = 0`` or ``z2 = 0`` and be smooth elsewhere; for such
  ``f(z1, z2) = s(z1) s(z2)`` of every registered activation, variances in [1e-3, 1e3] and
  correlations in [-0.999, 0.999], it agrees with nested adaptive scipy quadrature to 1e-8 relative
  in float64 (tests/test_theory_accuracy.py); 208 x 192 evaluations.

  Args:
    f: ``f(z1, z2)``, elementwise (broadcasting).
    K11, K12, K22: the 2x2 covariance (scalars, may be traced), positive semi-definite.
    num_nodes: None for the rule above; a number for a tensor-product Gauss-Hermite rule of
      ``num_nodes^2`` evaluations on the Cholesky factor (blind to kinks and large variances: 96
      nodes err by 1e-3 on leaky relu and up to 0.8 on sigmoid at K = 1e3, c = -0.999).

  Returns:
    A scalar in the dtype of ``K11``.
  """
  K11, K12, K22 = _float(K11), _float(K12), _float(K22)
  a = jnp.sqrt(K11)
  c = jnp.where(a > 0, K12 / jnp.where(a > 0, a, 1), 0.0)
  d = jnp.sqrt(jnp.maximum(K22 - c * c, 0.0))
  if num_nodes is not None:
    x, w = (jnp.asarray(v, K11.dtype) for v in _hermite_e(num_nodes))
    return jnp.sum(w[:, None] * w[None, :] * f(a * x[:, None], c * x[:, None] + d * x[None, :]))
  x, w = (jnp.asarray(v, K11.dtype) for v in panel_rule())
  g, gw, side = (jnp.asarray(v, K11.dtype) for v in _inner_parts(*INNER))
  y0 = jnp.clip(jnp.where(d > 0, -c * x / jnp.where(d > 0, d, 1), 0.0), -REACH, REACH)[:, None]
  edges = jnp.concatenate([(y0 - (REACH + y0) * side[1:])[:, ::-1], y0 + (REACH - y0) * side], axis=1)
  half, mid = (edges[:, 1:] - edges[:, :-1]) / 2, (edges[:, 1:] + edges[:, :-1]) / 2
  y = (half[..., None] * g + mid[..., None]).reshape(x.size, -1)
  wy = (half[..., None] * gw).reshape(x.size, -1) * jnp.exp(-y * y / 2) / math.sqrt(2 * math.pi)
  inner = jnp.sum(wy * f(a * x[:, None], c * x[:, None] + d * y), axis=1)
  return jnp.sum(w * inner)


_CLOSED_FORMS = ("linear", "relu", "leaky_relu", "erf", "sin")


_SLOPES: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": lambda z: 1 / jnp.cosh(z) ** 2,
    "sigmoid": lambda z: jax.nn.sigmoid(z) * jax.nn.sigmoid(-z),
}
"""Derivatives written out where autodiff's form cancels: ``1 - tanh(z)^2`` and ``s (1 - s)`` lose
every digit of float32 as ``|z|`` grows (``chi_parallel`` at K = 1e3 erred by 5e-6 in float32)."""


def slope(act: activations.Activation) -> Callable[[jax.Array], jax.Array]:
  """The activation's derivative ``s'``, elementwise."""
  return _SLOPES.get(act.kind) or jnp.vectorize(jax.grad(act.fn))


def second_moment(activation: Act, K: ArrayLike) -> jax.Array:
  r""":math:`\langle s(z)^2 \rangle_K`: closed form for relu, leaky relu, linear, erf
  (:math:`\frac{2}{\pi}\arcsin\frac{2K}{1+2K}`) and sin (:math:`(1 - e^{-2K})/2`), the
  :func:`panel_rule` quadrature otherwise."""
  act, K = as_activation(activation), _float(K)
  if act.kind == "linear":
    return K
  if act.kind == "relu":
    return K / 2
  if act.kind == "leaky_relu":
    a = dict(act.params)["negative_slope"]
    return (1 + a * a) * K / 2
  if act.kind == "erf":  # arcsin(2K / (1 + 2K)), as an arctan: well conditioned at large K
    return 2 / jnp.pi * jnp.arctan(2 * K / jnp.sqrt(1 + 4 * K))
  if act.kind == "sin":
    return -jnp.expm1(-2 * K) / 2
  return gaussian_expectation(lambda z: act(z) ** 2, K)


def derivative_moment(activation: Act, K: ArrayLike) -> jax.Array:
  r""":math:`\langle s'(z)^2 \rangle_K`: closed form for relu (1/2), leaky relu
  (:math:`(1+a^2)/2`), linear (1), erf (:math:`\frac{4}{\pi\sqrt{1+4K}}`) and sin
  (:math:`(1 + e^{-2K})/2`), else the :func:`panel_rule` quadrature; at ``K = 0`` (below 1e-30)
  the limit :math:`K \to 0^+`, :math:`(s'(0^-)^2 + s'(0^+)^2)/2`: the two one-sided slopes of a
  kink averaged (selu, elu), as :func:`chi_parallel` does."""
  act, K = as_activation(activation), _float(K)
  if act.kind == "linear":
    return jnp.ones_like(K)
  if act.kind == "relu":
    return jnp.full_like(K, 0.5)
  if act.kind == "leaky_relu":
    a = dict(act.params)["negative_slope"]
    return jnp.full_like(K, (1 + a * a) / 2)
  if act.kind == "erf":
    return 4 / (jnp.pi * jnp.sqrt(1 + 4 * K))
  if act.kind == "sin":
    return (1 + jnp.exp(-2 * K)) / 2
  ds = slope(act)
  small = K < 1e-30
  side = jnp.full_like(K, 1e-30)  # both sides of a kink at 0: the limit K -> 0+ averages them
  at_zero = (ds(-side) ** 2 + ds(side) ** 2) / 2
  return jnp.where(small, at_zero,
                   gaussian_expectation(lambda z: ds(z) ** 2, jnp.where(small, 1.0, K)))


def chi_parallel(activation: Act, C_W: ArrayLike, K: ArrayLike) -> jax.Array:
  r""":math:`\chi_\parallel(K) = C_W\, d\langle s^2\rangle_K / dK`, how a change of the kernel
  propagates one layer.

  The derivative of the closed form where :func:`second_moment` has one. Otherwise the exact
  derivative of its quadrature, :math:`\langle s\, s'\, z\rangle_K / K` on the :func:`panel_rule`
  (as accurate as the second moment; the Stein form :math:`\langle s^2 (z^2 - K)\rangle_K / 2K^2`
  of PDLT eq. 5.9 is the same integral), summed as :math:`\langle (s - s(0))\, s'\, z\rangle +
  s(0) \langle (s' - s'(0)/(1 + z^2))\, z\rangle` (the rule is symmetric and the subtracted term
  odd, so this is the same sum) so that an activation with :math:`s(0) \ne 0` (sigmoid, softplus)
  loses no digits to cancellation at small or large ``K`` (float32: <= 3.4e-7 relative); at
  ``K = 0`` (below 1e-30) the limit :math:`\langle s'^2 + s s''\rangle_0`, with the two one-sided
  slopes of a kink averaged.
  """
  act, K = as_activation(activation), _float(K)
  if act.kind == "erf":  # the derivative of (2/pi) arcsin(2K / (1 + 2K)), without its cancellation
    return _float(C_W) * 4 / (jnp.pi * (1 + 2 * K) * jnp.sqrt(1 + 4 * K))
  if act.kind == "sin":  # autodiff of expm1 gives expm1 + 1: cancellation in float32
    return _float(C_W) * jnp.exp(-2 * K)
  if act.kind in _CLOSED_FORMS:
    return _float(C_W) * jax.grad(lambda k: second_moment(act, k))(K)
  small = K < 1e-30
  K_safe = jnp.where(small, 1.0, K)
  ds, curvature = slope(act), jnp.vectorize(jax.grad(jax.grad(act.fn)))
  s0, s1 = act(jnp.zeros_like(K)), ds(jnp.zeros_like(K))
  derivative = gaussian_expectation(
      lambda z: (act(z) - s0) * ds(z) * z + s0 * (ds(z) - s1 / (1 + z * z)) * z, K_safe) / K_safe
  side = jnp.full_like(K, 1e-30)  # both sides of a kink at 0 (selu's slope jumps there)
  at_zero = ((ds(-side) ** 2 + ds(side) ** 2) / 2
             + s0 * (curvature(-side) + curvature(side)) / 2)
  return _float(C_W) * jnp.where(small, at_zero, derivative)


def chi_perp(activation: Act, C_W: ArrayLike, K: ArrayLike) -> jax.Array:
  r""":math:`\chi_\perp(K) = C_W \langle s'(z)^2\rangle_K` (:math:`\chi_1` of Schoenholz et al.
  2017): how the distance between two nearby inputs, and a gradient, grows per layer."""
  return _float(C_W) * derivative_moment(activation, K)


def _check_nonnegative(owner: str, **values: ArrayLike) -> None:
  """Raises ValueError for a concrete negative variance (a traced one is not seen: under ``jit``
  and ``vmap`` a negative value gives nan)."""
  for name, value in values.items():
    if not isinstance(value, jax.core.Tracer) and np.any(np.asarray(value) < 0):
      raise ValueError(f"{owner}: {name}={value!r} is a variance; accepted: >= 0")


def kernel_recursion(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K1: ArrayLike,
                     depth: int) -> jax.Array:
  r"""The single-input kernel through depth, :math:`K(l+1) = C_b + C_W \langle s^2\rangle_{K(l)}`.

  Args:
    activation: a name, an :class:`~jaxinit.activations.Activation` or a function
      (:func:`as_activation`; static).
    C_b, C_W: bias and weight variances (may be traced): the same for every layer, or one per
      layer, shape ``(depth,)``, entry ``l - 1`` being layer ``l``'s (layer 1's enter only
      through ``K1``), e.g. a Glorot network's (:func:`jaxinit.schemes.predictions.layer_variances`).
    K1: the first layer's kernel, ``C_b + C_W |x|^2 / n0``.
    depth: number of layers ``L`` (static).

  Returns:
    ``K_L``: shape ``(depth,)``, ``K_L[l - 1] = K(l)``.
  """
  _check_nonnegative("kernel_recursion", K1=K1, C_b=C_b, C_W=C_W)
  C_b, C_W = (jnp.broadcast_to(_float(c), (depth,)) for c in (C_b, C_W))

  def step(K, next_layer):
    c_b, c_w = next_layer
    return c_b + c_w * second_moment(activation, K), K

  # Step l computes layer l + 1's kernel from its coefficients; the last step's result is unused
  # (rolling puts layer 1's coefficients there).
  _, Ks = jax.lax.scan(step, _float(K1), (jnp.roll(C_b, -1), jnp.roll(C_W, -1)))
  return Ks


FIXED_POINT_RTOL = 1e-5
r"""A :func:`fixed_point` is returned only where :math:`|F(K^*) - K^*| \le` ``FIXED_POINT_RTOL``
:math:`\cdot \max(K^*, 10^{-12})`, else ``nan`` (float32 leaves ~1e-7 of ``K``)."""

_MARCH = (2 ** 0.25, 1e-12, 1e12)
""":func:`fixed_point`'s march: the ratio of one step, and the smallest and largest ``K`` it goes to."""


def fixed_point(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K0: ArrayLike = 1.0) -> jax.Array:
  r"""The fixed point :math:`K^*` of the kernel map :math:`F(K) = C_b + C_W\langle s^2\rangle_K`
  that iterating it from ``K0`` reaches: the first root of :math:`F(K) = K` from ``K0`` in the
  direction the map moves (up where :math:`F(K_0) > K_0`, else down), since :math:`F` increases
  with ``K`` and the iteration approaches that root monotonically.

  The root is bracketed by marching from ``K0`` by factors of :math:`2^{1/4}` to the first sign
  change of :math:`F(K) - K` (down to 1e-12, up to 1e12), then bisected in :math:`\log K` to float32
  precision. This finds a root the iteration would need thousands of steps for (a repelling fixed
  point or a slow bottleneck next to it, e.g. gelu at ``C_b = 0.05, C_W = 2.234129``:
  :math:`K^* = 0.1645`; at ``(0.17292, 1.984)``: 6.338), and exactly 0 where the map flows into
  :math:`K^* = 0` (:math:`F(0) = 0`: tanh or selu at ``C_b = 0``, ordered or critical; a root
  below float32's resolution of :math:`F(K) - K` there, within ~1e-6 of critical ``C_W``, is
  reported as 0 too). A ``K0`` outside [1e-12, 1e12] starts at the nearer end. Two roots closer
  than one step (a ratio of 1.19) are stepped over.

  Returns:
    :math:`K^*` (a scalar) with :math:`|F(K^*) - K^*| \le` :data:`FIXED_POINT_RTOL`
    :math:`\cdot \max(K^*, 10^{-12})`; ``K0`` itself where :math:`F(K_0) = K_0` (relu at
    :math:`C_W = 2, C_b = 0`: every kernel is fixed); ``inf`` where the kernel grows past 1e12
    without a root (relu with :math:`C_W > 2`); ``nan`` where the bisected root misses the
    tolerance (never seen; a discontinuous map would do it).
  """
  return _fixed_point(as_activation(activation), _float(C_b), _float(C_W), _float(K0))


@functools.partial(jax.jit, static_argnums=(0,))  # one compilation per activation, not per value
def _fixed_point(act: activations.Activation, C_b: jax.Array, C_W: jax.Array, K0: jax.Array
                 ) -> jax.Array:
  ratio, lowest, highest = _MARCH

  def gap(K):
    return C_b + C_W * second_moment(act, K) - K

  K0 = jnp.clip(K0, lowest, highest)  # a start outside the march's range begins at its edge
  g0 = gap(K0)
  up = g0 > 0
  step = jnp.where(up, ratio, 1 / ratio)

  def marching(state):
    *_, K, gK = state
    inside = jnp.where(up, highest > K, lowest < K)  # only the bound the march heads for
    return (jnp.sign(gK) == jnp.sign(g0)) & inside & (g0 != 0)

  def march(state):
    *_, K, gK = state
    return K, gK, K * step, gap(K * step)

  last, g_last, K, gK = jax.lax.while_loop(marching, march, (K0, g0, K0 * step, gap(K0 * step)))
  # Where F(0) = 0 (the K* = 0 class at C_b = 0) the gap near 0 is below float32 rounding of K
  # (-K^2 at tanh's criticality): a sign change there is rounding, not a root.
  rounding = (C_b + C_W * act(jnp.zeros_like(K0)) ** 2 == 0) & (
      jnp.abs(gK) <= 1e-6 * K) & (jnp.abs(g_last) <= 1e-6 * last)
  crossed = (jnp.sign(gK) != jnp.sign(g0)) & ~rounding
  lo, hi = jnp.minimum(last, K), jnp.maximum(last, K)
  sign_hi = jnp.sign(jnp.where(last < K, gK, g_last))  # the upper end keeps its sign while halving

  def halve(_, bracket):
    lo, hi = bracket
    mid = jnp.sqrt(lo * hi)
    same = jnp.sign(gap(mid)) == sign_hi
    return jnp.where(same, lo, mid), jnp.where(same, mid, hi)

  lo, hi = jax.lax.fori_loop(0, 40, halve, (lo, hi))
  root = jnp.sqrt(lo * hi)
  root = jnp.where(jnp.abs(gap(root)) <= FIXED_POINT_RTOL * jnp.maximum(root, lowest), root, jnp.nan)
  # No sign change: up, the kernel diverges; down, the root lies in [0, 1e-12] (or within rounding
  # of 0), and is 0 exactly where F(0) = C_b + C_W s(0)^2 is 0 (else reported as 0, within
  # tolerance).
  flat = jnp.where(up, jnp.inf, 0.0)
  return jnp.where(g0 == 0, K0, jnp.where(crossed, root, flat))


def depth_scales(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K_star: ArrayLike,
                 iterations: int = 1000) -> tuple[jax.Array, jax.Array]:
  r"""``(xi_q, xi_c)``, the depths over which the kernel and the correlation of two inputs approach
  their fixed points (Schoenholz et al. 2017, eqs. 5 and 9): :math:`\xi_q = -1/\log
  \chi_\parallel(K^*)` and :math:`\xi_c = -1/\log \chi_c`, :math:`\chi_c` the slope of the
  correlation map at its stable fixed point :math:`c^*` (:func:`correlation_slope`). In the ordered
  phase :math:`c^* = 1` and :math:`\chi_c = \chi_\perp(K^*)`; in the chaotic one
  (:math:`\chi_\perp(K^*) > 1`, where :math:`c = 1` repels) :math:`c^* < 1` is reached by
  ``iterations`` steps of the map from :math:`c = 0` (:func:`correlation_fixed_point`; the map
  rises monotonically from there) and :math:`\chi_c < 1`, so :math:`\xi_c > 0` in both phases and
  diverges at the edge of chaos; ``nan`` in the chaotic phase without a finite :math:`K^*` (relu
  with :math:`C_W > 2`). Both are scalars.
  """
  chi_1 = chi_perp(activation, C_W, K_star)

  def chaotic(_):
    act, K = as_activation(activation), _float(K_star)
    c_star = _correlation_iterate(act, _float(C_b), _float(C_W), K, jnp.zeros_like(K), iterations)
    slope_ = correlation_slope(act, C_W, K, c_star).astype(chi_1.dtype)
    return jnp.where(jnp.isfinite(K), slope_, jnp.nan)  # no finite K*: no correlation map

  # cond: an unbatched call iterates the correlation map only in the chaotic phase
  chi_c_star = jax.lax.cond(chi_1 > 1, chaotic, lambda _: chi_1, None)
  return -1 / jnp.log(chi_parallel(activation, C_W, K_star)), -1 / jnp.log(chi_c_star)


def correlation_slope(activation: Act, C_W: ArrayLike, K_star: ArrayLike, c: ArrayLike
                      ) -> jax.Array:
  r"""The slope :math:`dc'/dc` of the correlation map at correlation ``c`` of two inputs of
  variance :math:`K^*`: :math:`C_W E[s'(z_1) s'(z_2)]` (Price's theorem), :math:`\mathrm{Var}\,
  z_a = K^*`, :math:`\mathrm{Cov} = c K^*`; at ``c = 1`` it is :math:`\chi_\perp(K^*)`. A
  scalar (Schoenholz et al. 2017, eq. 8)."""
  ds = slope(as_activation(activation))
  K, c = _float(K_star), _float(c)
  return _float(C_W) * bivariate_expectation(lambda a, b: ds(a) * ds(b), K, c * K, K)


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
    ``(K11', K12', K22')`` with :math:`K'_{ab} = C_b + C_W E[s(z_a) s(z_b)]`; closed forms for
    relu and leaky relu (the arc-cosine kernel), linear, erf and sin, bivariate quadrature
    otherwise. The correlation is ``K12' / sqrt(K11' K22')``.
  """
  act = as_activation(activation)
  C_b, C_W = _float(C_b), _float(C_W)
  cross = _cross(act, _float(K11), _float(K12), _float(K22))
  return (C_b + C_W * second_moment(act, K11), C_b + C_W * cross,
          C_b + C_W * second_moment(act, K22))


def _cross(act: activations.Activation, K11: jax.Array, K12: jax.Array, K22: jax.Array
           ) -> jax.Array:
  """E[s(z1) s(z2)]: closed forms where they exist, else :func:`bivariate_expectation`."""
  if act.kind == "linear":
    return K12
  if act.kind == "relu":
    return relu_arccos_kernel(K11, K22, K12)
  if act.kind == "leaky_relu":  # s(z) = relu(z) - a relu(-z); (-z1, z2) has covariance -K12
    a = dict(act.params)["negative_slope"]
    return ((1 + a * a) * relu_arccos_kernel(K11, K22, K12)
            - 2 * a * relu_arccos_kernel(K11, K22, -K12))
  if act.kind == "erf":  # Williams (1997): (2/pi) arcsin(2 K12 / sqrt((1 + 2 K11)(1 + 2 K22)))
    rest = 1 + 2 * (K11 + K22) + 4 * (K11 * K22 - K12 * K12)  # (1+2K11)(1+2K22) - 4 K12^2
    return 2 / jnp.pi * jnp.arctan2(2 * K12, jnp.sqrt(jnp.maximum(rest, 0.0)))
  if act.kind == "sin":  # (E cos(z1 - z2) - E cos(z1 + z2)) / 2 = e^{-(K11+K22)/2} sinh K12
    a = jnp.abs(K12)  # sinh without overflow (K ~ 1e3) or cancellation (K ~ 1e-3)
    return jnp.sign(K12) * jnp.exp(a - (K11 + K22) / 2) * -jnp.expm1(-2 * a) / 2
  return bivariate_expectation(lambda a, b: act(a) * act(b), K11, K12, K22)


def phase_point(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K0: ArrayLike = 1.0
                ) -> tuple[jax.Array, jax.Array]:
  """``(K*, chi_perp(K*))`` together, two scalars; arguments as for :func:`phase`."""
  K_star = fixed_point(activation, C_b, C_W, K0)
  return K_star, chi_perp(activation, C_W, K_star)


def phase(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K0: ArrayLike = 1.0) -> jax.Array:
  r"""The order parameter of the phase diagram, :math:`\chi_\perp(K^*)`: ``> 1`` chaotic (nearby
  inputs and gradients grow with depth), ``< 1`` ordered (they shrink), ``= 1`` the edge of chaos;
  ``jax.vmap(jax.vmap(lambda cw, cb: phase("tanh", cb, cw), (None, 0)), (0, None))(C_W, C_b)`` is
  the whole diagram on a ``(len(C_W), len(C_b))`` grid in one call.

  Args:
    activation: a name, an :class:`~jaxinit.activations.Activation` or a function
      (:func:`as_activation`; static).
    C_b, C_W: bias and weight variances (scalars, may be traced).
    K0: as for :func:`fixed_point` (``K* = inf`` where the kernel diverges).

  Returns:
    A scalar.

  References:
    Schoenholz, Gilmer, Ganguli & Sohl-Dickstein, *Deep Information Propagation*, ICLR 2017.
  """
  return phase_point(activation, C_b, C_W, K0)[1]


def correlation_recursion(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K11: ArrayLike,
                          K12: ArrayLike, K22: ArrayLike, depth: int) -> jax.Array:
  r"""The correlation of two inputs through depth, a ``lax.scan`` of :func:`correlation_step`.

  Args:
    activation, C_b, C_W, depth: as for :func:`kernel_recursion`.
    K11, K12, K22: the first layer's two-input kernel, ``C_b + C_W x_a . x_b / n0``.

  Returns:
    Shape ``(depth,)``: ``c[l - 1] = K12(l) / sqrt(K11(l) K22(l))``, so ``c[0]`` is the input's.
  """
  C_b, C_W = _float(C_b), _float(C_W)

  def step(K, _):
    return correlation_step(activation, C_b, C_W, *K), K[1] / jnp.sqrt(K[0] * K[2])

  _, c = jax.lax.scan(step, (_float(K11), _float(K12), _float(K22)), None, length=depth)
  return c


def correlation_fixed_point(activation: Act, C_b: ArrayLike, C_W: ArrayLike, c0: ArrayLike = 0.5,
                            iterations: int = 500, K0: ArrayLike = 1.0) -> jax.Array:
  r"""The fixed point :math:`c^*` (a scalar) of the correlation map at the single-input fixed point,
  :math:`c \mapsto (C_b + C_W E[s(z_1) s(z_2)]) / K^*`, :math:`\mathrm{Var}\, z_a = K^*`,
  :math:`\mathrm{Cov} = c K^*`, iterated from ``c0``: 1 in the ordered phase, < 1 in the chaotic
  one; ``nan`` where :math:`K^* = 0` (tanh ordered at ``C_b = 0``). The approach is geometric at the
  rate ``dc'/dc`` at :math:`c^*`, slow near the edge of chaos: raise ``iterations`` there.
  Schoenholz et al. (2017), the c-map.
  """
  return _correlation_fixed_point(as_activation(activation), _float(C_b), _float(C_W),
                                  _float(c0), iterations, _float(K0))


@functools.partial(jax.jit, static_argnums=(0, 4))
def _correlation_fixed_point(act: activations.Activation, C_b: jax.Array, C_W: jax.Array,
                             c0: jax.Array, iterations: int, K0: jax.Array) -> jax.Array:
  return _correlation_iterate(act, C_b, C_W, fixed_point(act, C_b, C_W, K0), c0, iterations)


def _correlation_iterate(act: activations.Activation, C_b: jax.Array, C_W: jax.Array,
                         K_star: jax.Array, c0: jax.Array, iterations: int) -> jax.Array:
  """``iterations`` steps of the correlation map at the given ``K_star``, from ``c0``."""
  def step(_, c):
    K11, K12, _ = correlation_step(act, C_b, C_W, K_star, c * K_star, K_star)
    return K12 / K11

  return jax.lax.fori_loop(0, iterations, step, c0)


def chi_c(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K0: ArrayLike = 1.0) -> jax.Array:
  r"""The slope of the correlation map at :math:`c = 1` (a scalar), :math:`\chi_1` of Schoenholz et
  al. (2017). By Price's theorem :math:`\partial E[s(z_1)s(z_2)] / \partial K_{12} =
  E[s'(z_1) s'(z_2)]`, so :math:`dc'/dc = C_W E[s'(z_1) s'(z_2)]`, at :math:`c = 1`
  :math:`C_W\langle s'^2 \rangle_{K^*} = \chi_\perp(K^*)`: the same number as :func:`phase`."""
  return phase(activation, C_b, C_W, K0)


def gradient_norm_ratio(activation: Act, C_b: ArrayLike, C_W: ArrayLike, K1: ArrayLike,
                        depth: int) -> jax.Array:
  r"""Predicted :math:`E\|\partial L/\partial z(l)\|^2 / E\|\partial L/\partial z(L)\|^2`.

  Backpropagation is :math:`g(l) = D_l W(l+1)^T g(l+1)`, :math:`D_l = \mathrm{diag}\, s'(z(l))`. At
  infinite width :math:`(W^T g)_i` has variance :math:`(C_W / n_l) \|g\|^2` independently of
  :math:`z_i(l) \sim N(0, K(l))`, so summing over the :math:`n_l` units :math:`E\|g(l)\|^2 =
  \chi_\perp(K(l))\, E\|g(l+1)\|^2`: the kernel of layer ``l`` (whose :math:`D_l` enters), not
  ``l + 1``. Hence :math:`\prod_{k=l}^{L-1} \chi_\perp(K(k))` for any widths, and
  :math:`\chi_\perp(K^*)^{L-l}` at a fixed point.

  Args:
    activation, C_b, C_W, K1, depth: as for :func:`kernel_recursion`.

  Returns:
    Shape ``(depth,)``: entry ``l - 1`` is the ratio for layer ``l``; the last entry is 1.

  References:
    Schoenholz et al., *Deep Information Propagation*, ICLR 2017, backpropagation of gradients.
  """
  chis = jax.vmap(lambda K: chi_perp(activation, C_W, K))(
      kernel_recursion(activation, C_b, C_W, K1, depth))
  return jnp.append(jnp.cumprod(chis[:-1][::-1])[::-1], 1.0)  # tail products, then layer L


class Critical(NamedTuple):
  """A critical initialization: ``chi_par = chi_perp = 1`` at the fixed point ``K_star``.

  Attributes:
    C_b, C_W: the bias and weight variances.
    K_star: 0.0 for ``K* = 0``; ``nan`` if scale-invariant: every kernel is fixed, K(l) = K(1).
    kind: ``"scale_invariant"``, ``"k_star_zero"`` or ``"numerical"``.
  """

  C_b: float
  C_W: float
  K_star: float
  kind: str


CRITICAL_RANGE = (1e-4, 1e4)  # where critical_point searches for a nonzero K*


_FINE = (40, 16, 1e-4)
""":func:`critical_point`'s :func:`panel_rule` (1280 nodes): 1e-15 for a kink at 0 and scales
1e-4..10 in ``x`` (Gauss-Hermite, <= ~300 nodes, errs 1e-4 for gelu at K = 18)."""


def _fine_expectation(f: Callable[[jax.Array], jax.Array], K: jax.Array) -> jax.Array:
  return _expectation(panel_rule(*_FINE), f, K)


def critical_point(activation: Act) -> Critical:
  r"""Solves :math:`\chi_\parallel(K^*) = \chi_\perp(K^*) = 1`; three classes, in order, in float64:

  * scale-invariant (:math:`s(tz) = t s(z)` for :math:`t > 0`: relu, leaky relu, linear):
    ``C_b = 0``, ``C_W = 1 / A2``, :math:`A_2 = (a_+^2 + a_-^2)/2`; ``K_star = nan`` (any kernel).
  * ``K* = 0`` (:math:`s(0) = 0`, :math:`s'(0) \ne 0`, and the kernel flows into 0, i.e.
    :math:`C_W \langle s^2\rangle_K < K` at ``K = 1e-3``: tanh, erf, sin, elu, selu): ``C_b = 0``,
    ``C_W = 1 / s'(0)^2`` (the mean of the two one-sided squared slopes at a kink).
  * numerical (gelu, silu): :math:`C_W = 1/\langle s'^2\rangle_{K^*}` makes :math:`\chi_\perp = 1`;
    by Stein's lemma :math:`\chi_\parallel = C_W\langle s'^2 + s s''\rangle_K`, so
    :math:`\chi_\parallel = 1` iff :math:`\langle s s''\rangle_{K^*} = 0`. Roots are bracketed by
    a 161-point scan of :math:`\log K` over ``CRITICAL_RANGE`` and bisected (60 halvings reach
    float64 precision, so no Newton polish); the first with :math:`C_b = K^* - C_W \langle s^2
    \rangle_{K^*} \ge 0` is returned. Expectations use a panelled Gauss-Legendre rule (1e-15).

  Args:
    activation: a registered name, an :class:`~jaxinit.activations.Activation`, or any elementwise
      ``jax.numpy`` function (:func:`as_activation`: mish, ``lambda x: jnp.tanh(x)``), classified
      and solved by the same numerical path (a function equal to a registered activation gets its
      result); results are cached per activation. Not traceable: call it outside ``jit``.

  Returns:
    :class:`Critical` of Python floats.

  Raises:
    ValueError: the activation has no critical point in these classes (sigmoid, softplus).

  References:
    PDLT ch. 5 (criticality, universality classes, the gelu and swish solutions).
  """
  return _critical(as_activation(activation))


@functools.cache
def _critical(act: activations.Activation) -> Critical:
  with jax.enable_x64(True):
    s, slope, curve = act.fn, jax.grad(act.fn), jnp.vectorize(jax.grad(jax.grad(act.fn)))
    x = jnp.array([-2.5, -1.0, -0.3, 0.7, 1.9])

    @jax.jit  # one compiled probe (op by op, its ~40 small programs took most of a second)
    def probe():
      return (slope(-1e-30), slope(1e-30), s(0.0), s(0.5 * x), 0.5 * s(x), s(3.0 * x), 3.0 * s(x),
              _fine_expectation(lambda z: s(z) ** 2, jnp.float64(1e-3)))

    left, right, s0, *scaled, small = (np.asarray(v) for v in probe())
    slope2 = float(left ** 2 + right ** 2) / 2  # mean of one-sided slopes^2 at 0
    pairs = zip(scaled[::2], scaled[1::2], strict=True)  # s(t x) against t s(x), t = 0.5 and 3
    if all(np.allclose(a, b, rtol=1e-12, atol=0) for a, b in pairs):
      return Critical(0.0, 1 / slope2, math.nan, "scale_invariant")
    s0, small = float(s0), float(small)
    if s0 == 0 and slope2 > 0 and small < slope2 * 1e-3:  # the kernel flows into K* = 0
      return Critical(0.0, 1 / slope2, 0.0, "k_star_zero")
    gap = jax.jit(jax.vmap(lambda t: _fine_expectation(lambda z: s(z) * curve(z), jnp.exp(t))))
    t = jnp.linspace(*np.log(CRITICAL_RANGE), 161)
    signs = np.sign(np.asarray(gap(t)))
    at = np.nonzero(signs[:-1] * signs[1:] < 0)[0]

    def bisect(lo, hi, sign_lo):
      def halve(_, b):
        mid = (b[0] + b[1]) / 2
        left = jnp.sign(gap(mid[None])[0]) == sign_lo
        return jnp.where(left, mid, b[0]), jnp.where(left, b[1], mid)
      return jnp.exp(sum(jax.lax.fori_loop(0, 60, halve, (lo, hi))) / 2)

    moments = jax.jit(jax.vmap(lambda K: (
        _fine_expectation(lambda z: jnp.vectorize(slope)(z) ** 2, K),
        _fine_expectation(lambda z: s(z) ** 2, K))))
    roots = jax.vmap(bisect)(t[at], t[at + 1], jnp.asarray(signs[at]))
    for K, slopes, squares in zip(*(np.asarray(v) for v in (roots, *moments(roots))), strict=True):
      C_W = 1 / float(slopes)
      C_b = float(K) - C_W * float(squares)
      if C_b >= -1e-12:
        return Critical(max(C_b, 0.0), C_W, float(K), "numerical")
  why = (f"s(0) = {s0:.4g} != 0 so K* = 0 is not a fixed point" if s0 != 0 else
         "s'(0) = 0 so chi_perp(0) = 0" if slope2 == 0 else "the kernel flows away from K* = 0")
  raise ValueError(
      f"{act.name} has no critical point: {why}, and chi_par = chi_perp = 1 has no solution with "
      f"C_b >= 0 for K* in [{CRITICAL_RANGE[0]:g}, {CRITICAL_RANGE[1]:g}]; accepted: scale-invariant "
      "activations (relu, leaky_relu, linear), ones with s(0) = 0 and s'(0) != 0 whose kernel "
      "flows into K* = 0 (tanh, erf, sin), and ones with such a solution (gelu, silu)")
