"""Tests for jaxinit.activations: each function against an independent reference, names."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from jaxinit import activations

X = np.linspace(-4, 4, 101)

REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu(negative_slope=0.2)": lambda x: np.where(x >= 0, x, 0.2 * x),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "erf": special.erf,
    "gelu": lambda x: x * 0.5 * (1 + special.erf(x / math.sqrt(2))),  # exact, not the tanh form
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "elu(alpha=0.5)": lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "sin": np.sin,
}


@pytest.mark.parametrize("name", list(REFERENCE))
def test_activation_matches_reference(name):
  act = activations.get(name)
  np.testing.assert_allclose(act(jnp.asarray(X, jnp.float32)), REFERENCE[name](X),
                             rtol=2e-6, atol=2e-6)


def test_every_registered_activation_has_a_reference():
  covered = {activations.get(n).kind for n in REFERENCE}
  assert covered == set(activations.known())


@pytest.mark.parametrize("name", [*activations.known(), *activations.ALIASES, *REFERENCE,
                                  "leaky_relu(0.3)"])
def test_names_round_trip(name):
  canonical = activations.get(name).name
  assert activations.get(canonical).name == canonical
  assert activations.get(canonical) == activations.get(name)


def test_aliases_and_parameters():
  assert activations.get("swish").name == "silu"
  assert activations.get("identity").name == "linear"
  assert activations.get("leaky_relu").name == "leaky_relu(negative_slope=0.01)"
  assert activations.get("leaky_relu(0.3)").name == "leaky_relu(negative_slope=0.3)"


@pytest.mark.parametrize(("text", "match"), [
    ("tanhh", r"unknown activation 'tanhh'; known: elu, erf, gelu"),
    ("relu(2)", r"accepted: no parameters"),
    ("leaky_relu(slope=0.2)", r"accepted: negative_slope"),
])
def test_bad_names_raise(text, match):
  with pytest.raises(ValueError, match=match):
    activations.get(text)


@pytest.mark.parametrize("name", activations.known())
def test_jit_grad_and_vmap(name):
  act = activations.get(name)
  x = jnp.linspace(-2, 2, 9)
  np.testing.assert_allclose(jax.jit(act)(x), act(x), rtol=1e-6, atol=1e-7)
  slope = jax.vmap(jax.grad(lambda v: act(v)))(x)
  numeric = (act(x + 1e-3) - act(x - 1e-3)) / 2e-3
  np.testing.assert_allclose(slope[x != 0], numeric[x != 0], rtol=2e-2, atol=2e-3)
