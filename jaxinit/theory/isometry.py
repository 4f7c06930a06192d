"""Dynamical isometry: the spectrum of the input-output Jacobian of a deep network.

For an MLP ``z(l) = W(l) x(l-1) + b(l)``, ``x(l) = s(z(l))``, the input-output Jacobian is
``J = dx(L)/dx(0) = D_L W_L ... D_1 W_1`` with ``D_l = diag s'(z(l))``. At infinite width, with
every layer at the fixed point ``K*``, the ``D_l^2`` and ``W_l W_l^T`` are asymptotically free, so
the S-transforms multiply (Pennington et al. 2017, eq. 13): the mean eigenvalue of ``J J^T`` is
multiplicative and its *relative* variance ``var / mean^2`` additive over the ``2L`` factors. A
factor with moments ``m1, m2`` contributes ``m2/m1^2 - 1``: ``mu2/mu1^2 - 1`` for ``D^2``
(``mu_k = <s'^(2k)>_{K*}``) and ``-s1`` for ``W W^T`` (``s1 = -1`` Gaussian, Marchenko-Pastur;
``0`` orthogonal).

References:
  Pennington, Schoenholz & Ganguli, *Resurrecting the sigmoid in deep learning through dynamical
  isometry: theory and practice* (NeurIPS 2017); Saxe, McClelland & Ganguli (ICLR 2014).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxinit import initializers, theory
from jaxinit.theory import finite_width

__all__ = ["WEIGHTS", "derivative_fourth_moment", "jacobian_spectrum_moments",
           "random_jacobian_singular_values"]

WEIGHTS = {"gaussian": -1.0, "orthogonal": 0.0}
"""Weight ensembles and the first S-transform coefficient ``s1`` of ``W W^T`` (square layers)."""


def _s1(weights: str) -> float:
  if weights not in WEIGHTS:
    raise ValueError(f"weights={weights!r} is not known; accepted: {', '.join(WEIGHTS)}")
  return WEIGHTS[weights]


def derivative_fourth_moment(activation: theory.Act, K: jax.typing.ArrayLike) -> jax.Array:
  r""":math:`\mu_2 = \langle s'(z)^4\rangle_K`: closed form for relu (1/2), leaky relu
  (:math:`(1+a^4)/2`) and linear (1), quadrature otherwise (``s'(0)^4`` at ``K = 0``)."""
  act = theory.as_activation(activation)
  K = jnp.asarray(K, jnp.result_type(float))
  moments = finite_width.slope_moments(act)
  if moments is not None:
    return jnp.full_like(K, moments[1])
  ds = theory.slope(act)
  return theory.gaussian_expectation(lambda z: ds(z) ** 4, K)


def jacobian_spectrum_moments(activation: theory.Act, C_W: jax.typing.ArrayLike,
                              K_star: jax.typing.ArrayLike, depth: jax.typing.ArrayLike,
                              weights: str = "gaussian") -> tuple[jax.Array, jax.Array]:
  r"""Mean and variance of the eigenvalue distribution of :math:`JJ^T` at infinite width.

  ``mean = chi_perp^L`` and ``variance = chi_perp^(2L) L (mu2/mu1^2 - 1 - s1)``, with
  ``chi_perp = C_W mu1``: the general free-probability result (see the module docstring), which at
  ``chi_perp = 1`` is Pennington et al.'s ``L (mu2/mu1^2 - 1 - s1)``. Orthogonal linear networks
  are exactly isometric (variance 0); relu never is (``mu2/mu1^2 = 2``: variance ``L`` orthogonal,
  ``2L`` Gaussian); for the ``K* = 0`` class ``mu_k -> s'(0)^(2k)`` and the variance vanishes with
  orthogonal weights as ``K* -> 0`` (tanh: ``~ 8 L K*^2``).

  Args:
    activation: name, Activation or function (:func:`jaxinit.theory.as_activation`; static).
    C_W: weight variance (``W W^T`` has mean eigenvalue ``C_W``); may be traced.
    K_star: the preactivation variance every layer sits at (irrelevant for relu, leaky relu,
      linear); may be traced.
    depth: number of layers ``L``; may be traced.
    weights: ``"gaussian"`` or ``"orthogonal"`` (static), square layers.

  Returns:
    ``(mean, variance)``, scalars.

  Raises:
    ValueError: for another ``weights``.

  References:
    Pennington, Schoenholz & Ganguli (2017), eqs. 13-17.
  """
  s1 = _s1(weights)
  mu1 = theory.derivative_moment(activation, K_star)
  mu2 = derivative_fourth_moment(activation, K_star)
  mean = (jnp.asarray(C_W, mu1.dtype) * mu1) ** depth
  return mean, mean ** 2 * depth * (mu2 / mu1 ** 2 - 1 - s1)


def random_jacobian_singular_values(key: jax.Array, activation: theory.Act, widths: Sequence[int],
                             C_W: jax.typing.ArrayLike, C_b: jax.typing.ArrayLike, x: jax.Array,
                             weights: str = "gaussian") -> jax.Array:
  r"""Singular values of the input-output Jacobian ``d s(z(L)) / dx`` of one random MLP at ``x``.

  The network is ``z(l) = x(l-1) W(l) + b(l)``, ``x(l) = s(z(l))`` (Flax layout ``(in, out)``),
  ``b ~ N(0, C_b)``, and ``W`` either ``N(0, C_W / fan_in)`` or ``sqrt(C_W)`` times a random
  orthogonal matrix (orthonormal rows or columns when not square). The Jacobian is taken by
  ``jax.jacfwd`` (``jax.jacrev`` when the output is narrower than the input). Vmap over ``key``
  for an ensemble; ``activation``, ``widths`` and ``weights`` are static.

  Args:
    key: PRNG key.
    activation: name, Activation or function (:func:`jaxinit.theory.as_activation`).
    widths: ``(n_1, ..., n_L)``, the layer widths; the input width ``n_0`` is ``x.shape[-1]``.
    C_W, C_b: weight and bias variances (may be traced).
    x: one input, shape ``(n_0,)``; ``K(1) = C_b + C_W |x|^2 / n_0``.
    weights: ``"gaussian"`` or ``"orthogonal"``.

  Returns:
    shape ``(min(n_0, n_L),)``, descending. The eigenvalues of :math:`JJ^T` are their squares.

  Raises:
    ValueError: for another ``weights``, or empty ``widths``.
  """
  _s1(weights)
  if len(widths) == 0:
    raise ValueError("random_jacobian_singular_values: widths is empty; accepted: one width per layer")
  act = theory.as_activation(activation)
  draw = initializers.get("orthogonal" if weights == "orthogonal" else "lecun_normal")
  dims = (x.shape[-1], *widths)
  keys = jax.random.split(key, (len(widths), 2))
  dtype = jnp.result_type(float)
  w_scale, b_scale = jnp.sqrt(jnp.asarray(C_W, dtype)), jnp.sqrt(jnp.asarray(C_b, dtype))
  params = [(w_scale * draw(k[0], (n_in, n_out), dtype),
             b_scale * jax.random.normal(k[1], (n_out,), dtype))
            for k, n_in, n_out in zip(keys, dims[:-1], dims[1:], strict=True)]

  def network(h: jax.Array) -> jax.Array:
    for W, b in params:
      h = act(h @ W + b)
    return h

  jacobian = jax.jacfwd if dims[0] <= dims[-1] else jax.jacrev
  return jnp.linalg.svd(jacobian(network)(jnp.asarray(x, dtype)), compute_uv=False)
