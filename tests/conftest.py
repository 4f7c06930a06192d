"""Shared test helpers: JAX's compile log, and one Monte-Carlo chain for the theory tests."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinit import activations, initializers
from jaxinit.engine import compilation


@functools.cache
def _chain_moments(name, C_b, C_W, width, depth, seeds, x2=1.0):
  """Per network, the unit averages of z(l)^2 and z(l)^4 for one input with |x|^2/n0 = x2, over
  `seeds` networks in one vmapped call (keys from key(0)): two float64 arrays, (seeds, depth).

  For one input, W(l+1) is independent of h = s(z(l)), so W^T h ~ N(0, C_W |h|^2/n I) exactly:
  each layer draws `width` normals from the initializer (fan_in 1) and scales them by rms(h),
  the exact finite-width Markov chain of the preactivations (test_finite_width checks it against
  full-matrix networks)."""
  act = activations.get(name)
  w_init = initializers.variance_scaling(scale=C_W, mode="fan_in", distribution="normal")
  b_init = initializers.normal(stddev=math.sqrt(C_b))

  def network(key):
    def layer(h, k):
      kw, kb = jax.random.split(k)
      z = jnp.sqrt(jnp.mean(h * h)) * w_init(kw, (1, width))[0] + b_init(kb, (width,))
      return act(z), (jnp.mean(z * z), jnp.mean(z ** 4))
    return jax.lax.scan(layer, jnp.full((width,), math.sqrt(x2)), jax.random.split(key, depth))[1]

  m2, m4 = jax.jit(jax.vmap(network))(jax.random.split(jax.random.key(0), seeds))
  return np.asarray(m2, np.float64), np.asarray(m4, np.float64)


@pytest.fixture
def chain_moments():
  """``(activation, C_b, C_W, width, depth, seeds, x2=1.0) -> (m2, m4)``; ``K(1) = C_b + C_W x2``."""
  return _chain_moments


@pytest.fixture
def compilations():
  """:func:`jaxinit.engine.compilation.log`: the XLA compilations JAX logs inside a ``with`` block."""
  return compilation.log
