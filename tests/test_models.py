"""Tests of the Flax models: shapes, sown intermediates, per-layer initializers, configs, nnx."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxinit import activations, initializers
from jaxinit.nets import models


def test_mlp_intermediates_are_the_layers_values() -> None:
  """preact_i = h_{i-1} W_i + b_i and act_i = phi(preact_i), recomputed from the params."""
  model = models.MLP(widths=(5, 4, 3), activation="tanh", kernel_init=initializers.get("he_normal"),
                     bias_init=initializers.get("normal(stddev=0.1)"))
  x = jax.random.normal(jax.random.key(1), (7, 6))
  variables = model.init(jax.random.key(0), x)
  logits, sown = models.logits_and_intermediates(model, variables, x)
  assert list(sown) == ["preact_0", "act_0", "preact_1", "act_1", "preact_2"]
  p = variables["params"]
  h = x
  for i in range(3):
    z = h @ p[f"layer_{i}"]["kernel"] + p[f"layer_{i}"]["bias"]
    np.testing.assert_allclose(sown[f"preact_{i}"], z, rtol=1e-5, atol=1e-6)
    if i < 2:
      h = jnp.tanh(z)
      np.testing.assert_allclose(sown[f"act_{i}"], h, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(logits, sown["preact_2"], rtol=0, atol=0)
  assert logits.shape == (7, 3)
  # A plain apply returns only the logits.
  np.testing.assert_array_equal(model.apply(variables, x), logits)


def test_mlp_kernels_follow_the_scheme() -> None:
  """Each kernel is drawn by the scheme: He's variance 2/fan_in within 4 standard errors."""
  model = models.MLP(widths=(512, 512, 10), kernel_init=initializers.get("he_normal"))
  p = model.init(jax.random.key(3), jnp.zeros((1, 256)))["params"]
  for name, fan_in in (("layer_0", 256), ("layer_1", 512), ("layer_2", 512)):
    w = np.asarray(p[name]["kernel"], np.float64)
    se = 2 / fan_in * np.sqrt(2 / w.size)
    assert abs(w.var() - 2 / fan_in) < 4 * se, name
    np.testing.assert_array_equal(p[name]["bias"], 0.0)


def test_per_layer_initializers() -> None:
  """One initializer per layer: He for the hidden layers, zeros for the output layer."""
  he, zeros = initializers.get("he_normal"), initializers.get("zeros")
  model = models.MLP(widths=(8, 8, 2), kernel_init=(he, he, zeros))
  p = model.init(jax.random.key(0), jnp.zeros((1, 4)))["params"]
  assert np.all(p["layer_2"]["kernel"] == 0)
  assert np.std(p["layer_0"]["kernel"]) > 0.1 and np.std(p["layer_1"]["kernel"]) > 0.1
  with pytest.raises(ValueError, match="one per layer"):
    models.MLP(widths=(8, 2), kernel_init=(he,)).init(jax.random.key(0), jnp.zeros((1, 4)))


def test_kernel_keys_depend_on_the_layer_path_only() -> None:
  """The same seed gives the same first-layer kernel whatever the later layers are."""
  x = jnp.zeros((1, 3))
  a = models.MLP(widths=(16, 1)).init(jax.random.key(5), x)["params"]["layer_0"]["kernel"]
  b = models.MLP(widths=(16, 7, 2)).init(jax.random.key(5), x)["params"]["layer_0"]["kernel"]
  np.testing.assert_array_equal(a, b)


def test_cnn_shapes_intermediates_and_batch_norm() -> None:
  """Channels (2, 4): XLA on CPU takes ~5 s to compile one (3, 3, 4, 8) normal draw, ~1 s here."""
  model = models.build(models.ModelConfig(kind="cnn", channels=(2, 4), widths=(32, 10),
                                          batch_norm=True), initializers.get("he_uniform"))
  x = jax.random.normal(jax.random.key(0), (3, 28, 28, 1))
  variables = model.init(jax.random.key(0), x)
  p = variables["params"]
  assert p["layer_0"]["kernel"].shape == (3, 3, 1, 2)
  assert p["layer_1"]["kernel"].shape == (3, 3, 2, 4)
  assert p["layer_2"]["kernel"].shape == (14 * 14 * 4, 32)
  assert p["layer_3"]["kernel"].shape == (32, 10)
  assert set(variables["batch_stats"]) == {"batch_norm_0", "batch_norm_1", "batch_norm_2"}
  logits, sown = models.logits_and_intermediates(model, variables, x)
  assert logits.shape == (3, 10)
  assert sown["preact_0"].shape == (3, 28, 28, 2) and sown["act_2"].shape == (3, 32)
  # In train mode BatchNorm normalizes with the batch statistics: per-channel mean 0, var ~1.
  _, state = model.apply(variables, x, train=True, mutable=["batch_stats", "intermediates"])
  z = np.asarray(state["intermediates"]["preact_1"][0]).reshape(-1, 4)
  np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-5)
  np.testing.assert_allclose(z.var(0), 1.0, rtol=1e-3)
  with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
    model.init(jax.random.key(0), jnp.zeros((3, 784)))


def test_model_config_validates_and_canonicalizes() -> None:
  cfg = models.ModelConfig(activation="swish")
  assert cfg.activation == activations.get("silu").name
  assert cfg.depth == 3 and cfg.num_outputs == 1
  hash(cfg)  # a config is a cache key
  for bad, match in (({"kind": "rnn"}, "unknown model kind"), ({"widths": (12, 0)}, "positive"),
                     ({"widths": ()}, "at least"), ({"channels": (4,)}, "cnn"),
                     ({"kind": "cnn", "channels": ()}, "at least one convolution"),
                     ({"activation": "tanhh"}, "unknown activation")):
    with pytest.raises(ValueError, match=match):
      models.ModelConfig(**bad)


def test_initializers_plug_into_nnx() -> None:
  """flax.nnx calls kernel_init(rngs.params(), (in, out), dtype): our draw with that key."""
  init = initializers.get("glorot_uniform")
  layer = nnx.Linear(6, 4, kernel_init=init, rngs=nnx.Rngs(params=11))
  key = nnx.Rngs(params=11).params()
  np.testing.assert_array_equal(layer.kernel[...], init(key, (6, 4)))
  conv = nnx.Conv(2, 3, (3, 3), kernel_init=initializers.get("orthogonal"), rngs=nnx.Rngs(0))
  w = np.asarray(conv.kernel[...]).reshape(-1, 3)
  np.testing.assert_allclose(w.T @ w, np.eye(3), atol=1e-5)


def test_linen_dense_accepts_every_dense_scheme() -> None:
  x = jnp.ones((2, 5))
  for name in set(initializers.known()) - {"delta_orthogonal"}:  # a conv-only scheme
    p = nn.Dense(5, kernel_init=initializers.get(name)).init(jax.random.key(0), x)["params"]
    assert p["kernel"].shape == (5, 5) and bool(jnp.all(jnp.isfinite(p["kernel"]))), name
