"""Tests of the population: the member grid, its validation, and position-independent init."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxinit import initializers
from jaxinit.engine import population as pop
from jaxinit.nets import models

MLP = models.ModelConfig(widths=(16, 8, 1))


def leaves(tree: dict) -> list[np.ndarray]:
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_grid_order_size_and_canonical_names() -> None:
  ms = pop.grid(["xavier_normal", "zeros"], [3, 1], lrs=(0.1, 0.01), scales=(1.0, 2.0))
  assert len(ms) == 2 * 2 * 2 * 2
  assert ms[0] == pop.Member("glorot_normal", 3, 0.1, 0.9, 1.0)
  assert ms[1] == pop.Member("glorot_normal", 1, 0.1, 0.9, 1.0)  # seeds vary fastest
  assert ms[2].scale == 2.0 and ms[4].lr == 0.01 and ms[8].scheme == "zeros"
  table = pop.member_table(ms)
  assert table[5] == {"member": 5, "scheme": "glorot_normal", "seed": 1, "lr": 0.01,
                      "momentum": 0.9, "scale": 1.0}
  hp = pop.hyperparameters(ms)
  assert hp["lr"].shape == (16,) and float(hp["scale"][2]) == 2.0


@pytest.mark.parametrize("kwargs, match", [
    ({"schemes": ["he_normall"]}, "unknown scheme 'he_normall'"),
    ({"schemes": []}, "schemes is empty"),
    ({"schemes": ["xavier_normal", "glorot_normal"]}, "duplicates"),
    ({"seeds": [-1]}, r"seed must be an int in \[0, 2\^32\)"),
    ({"seeds": [2 ** 32]}, "seed must be"),
    ({"seeds": [1.5]}, "seed must be"),
    ({"lrs": [0.0]}, "lr=0.0 is out of range"),
    ({"lrs": [float("nan")]}, "lr=nan is out of range"),
    ({"momenta": [1.0]}, r"momentum must be in \[0, 1\)"),
    ({"scales": [-1.0]}, "scale=-1.0 is out of range"),
])
def test_grid_rejects_bad_values(kwargs: dict, match: str) -> None:
  args = {"schemes": ["he_normal"], "seeds": [0], **kwargs}
  with pytest.raises(ValueError, match=match):
    pop.grid(**args)


def test_member_init_is_independent_of_position_and_population() -> None:
  """A member's initial params are bit-identical alone, among others, and in any order."""
  members = pop.grid(["he_normal", "orthogonal", "normal(stddev=0.1)"], range(5),
                     scales=(1.0, 0.5))
  together = leaves(pop.init_params(MLP, members, (3,)))
  reordered = list(reversed(members))
  backwards = leaves(pop.init_params(MLP, reordered, (3,)))
  for k in (0, 7, 13, 29):
    alone = leaves(pop.init_params(MLP, [members[k]], (3,)))
    for t, b, a in zip(together, backwards, alone, strict=True):
      np.testing.assert_array_equal(t[k], a[0])
      np.testing.assert_array_equal(b[len(members) - 1 - k], a[0])
  # ...and equal to a plain, unbatched model.init with the member's key.
  m = members[7]
  model = models.build(MLP, initializers.get(m.scheme))
  direct = model.init(jax.random.key(m.seed), np.zeros((1, 3), np.float32))["params"]
  for t, d in zip(together, leaves({"params": direct}), strict=True):
    np.testing.assert_array_equal(t[7] / np.float32(m.scale) if t.ndim == 3 else t[7], d)


def test_common_random_numbers_across_schemes() -> None:
  """Same seed, two normal schemes: the kernels are one draw at two scales (a paired comparison)."""
  he, glorot = pop.grid(["he_normal", "glorot_normal"], [4])
  p = pop.init_params(MLP, [he, glorot], (3,))["params"]
  for name, (fi, fo) in (("layer_0", (3, 16)), ("layer_1", (16, 8))):
    w = np.asarray(p[name]["kernel"])
    ratio = np.sqrt(2 / fi) / np.sqrt(2 / (fi + fo))
    np.testing.assert_allclose(w[0], ratio * w[1], rtol=1e-5)


def test_scale_multiplies_kernels_only() -> None:
  one, half = pop.grid(["he_normal"], [2], scales=(1.0, 0.5))
  cfg = models.ModelConfig(widths=(8, 2), batch_norm=True)
  v = pop.init_params(cfg, [one, half], (3,))
  np.testing.assert_array_equal(v["params"]["layer_0"]["kernel"][1],
                                np.float32(0.5) * v["params"]["layer_0"]["kernel"][0])
  np.testing.assert_array_equal(v["params"]["batch_norm_0"]["scale"][1], 1.0)
  assert v["batch_stats"]["batch_norm_0"]["var"].shape == (2, 8)


def test_empty_population_is_an_error() -> None:
  with pytest.raises(ValueError, match="empty"):
    pop.init_params(MLP, [], (3,))
