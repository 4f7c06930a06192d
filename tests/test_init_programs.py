"""The shared init program: affine schemes drawn with their scales as data, bit for bit."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxinit import initializers
from jaxinit.engine import population as pop
from jaxinit.nets import models
from jaxinit.schemes import programs

FAST = ["zeros", "uniform(low=-0.3, high=0.7)", "truncated_normal(stddev=0.5)",
        "he_normal(gain=1.3, negative_slope=0.2, mode=fan_out)",
        "variance_scaling(scale=3.0, mode=fan_avg, distribution=uniform)"]
"""One scheme per way an affine form is made (constant, the fixed distributions, the variance
scaling family); every other one in the slow test."""
AFFINE = [
    "zeros", "ones", "constant(0.5)", "normal(stddev=10.0)", "uniform(low=-0.3, high=0.7)",
    "truncated_normal(stddev=0.5)", "he_normal", "he_uniform", "he_truncated_normal",
    "he_normal(gain=1.3, negative_slope=0.2, mode=fan_out)", "glorot_normal", "glorot_uniform",
    "glorot_truncated_normal", "lecun_normal", "lecun_uniform", "lecun_truncated_normal",
    "simple_xavier(gain=2.0)", "variance_scaling(scale=3.0, mode=fan_avg, distribution=uniform)",
    "variance_scaling(scale=0.7, mode=fan_geo_avg, distribution=truncated_normal)",
    "critical(tanh)", "critical(gelu)",  # gelu's critical point has C_b > 0: normal biases
]
NOT_AFFINE = ["orthogonal", "delta_orthogonal", "identity", "lsuv", "metainit",
              "truncated_normal(stddev=0.5, bound=3.0)"]
MODELS = {
    "mlp": (models.ModelConfig(widths=(12, 6, 1)), (2,)),
    "cnn_bn": (models.ModelConfig(kind="cnn", widths=(8, 10), channels=(4,), batch_norm=True),
               (6, 6, 1)),
}


def bits(x: np.ndarray) -> np.ndarray:
  return np.asarray(x).view(np.uint32)


@pytest.mark.parametrize("model, schemes", [
    ("mlp", FAST),
    pytest.param("mlp", AFFINE, marks=pytest.mark.slow),
    pytest.param("cnn_bn", AFFINE, marks=pytest.mark.slow),
])
def test_affine_schemes_are_drawn_as_by_their_own_programs(model: str, schemes: list[str]) -> None:
  """Affine schemes in one population, with scales != 1: each member's variables equal, bit for
  bit, those its scheme's own program draws (the program used before it was shared, and equal to
  a plain ``model.init``: tests/test_population.py)."""
  config, shape = MODELS[model]
  seeds, scales = np.arange(3, dtype=np.uint32), np.float32([0.5, 1.0, 1.7])
  members = [pop.Member(s, int(seed), scale=float(sc)) for s in schemes
             for seed, sc in zip(seeds, scales, strict=True)]
  drawn = pop.init_params(config, members, shape, host=True)
  x = np.zeros((1, *shape), np.float32)
  for j, scheme in enumerate(schemes):
    own = programs.per_scheme(config, pop.Member(scheme, 0).scheme)(seeds, scales, x)
    for got, want in zip(jax.tree.leaves(drawn), jax.tree.leaves(own), strict=True):
      np.testing.assert_array_equal(bits(got[3 * j:3 * j + 3]), bits(want), err_msg=scheme)


def test_a_kernel_is_the_initializers_draw_times_the_scale_rounded_once() -> None:
  """The population's kernel is ``initializer(layer key, shape) * scale`` computed on the host."""
  config, shape = MODELS["mlp"]
  keys = []

  def record(key: jax.Array, shape: tuple, dtype: object = np.float32) -> jax.Array:
    keys.append(key)
    return jax.numpy.zeros(shape, dtype)

  models.build(config, kernel_init=record).init(jax.random.key(11), np.zeros((1, 2), np.float32))
  schemes = ("he_uniform", "glorot_truncated_normal", "normal(stddev=10.0)")
  got = pop.init_params(config, [pop.Member(s, 11, scale=1.3) for s in schemes], shape, host=True)
  for j, scheme in enumerate(schemes):
    want = np.asarray(initializers.get(scheme)(keys[1], (12, 6))) * np.float32(1.3)
    np.testing.assert_array_equal(bits(got["params"]["layer_1"]["kernel"][j]), bits(want))


@pytest.mark.parametrize("scheme", NOT_AFFINE)
def test_structured_and_data_dependent_schemes_keep_their_own_program(scheme: str) -> None:
  config, shape = MODELS["mlp"]
  assert programs.forms(config, shape, pop.Member(scheme, 0).scheme) is None


def test_one_init_compile_for_several_schemes_and_none_for_others_alike(compilations) -> None:
  """zeros, normal and he_normal: one init program; then other normal-family schemes, seeds and
  scales (same size bucket): nothing compiles. A uniform scheme needs a new program."""
  config = models.ModelConfig(widths=(5, 3, 1), activation="tanh")
  first = pop.grid(["zeros", "normal(stddev=10.0)", "he_normal"], range(2))
  second = pop.grid(["lecun_normal", "constant(0.1)", "critical(tanh)"], range(5, 7),
                    scales=(2.0,))
  with compilations() as log:
    pop.init_params(config, first, (2,))
  assert len([m for m in log if "jit(shared_init)" in m]) == 1, log
  assert not [m for m in log if "scheme_init" in m], log
  with compilations() as log:
    pop.init_params(config, second, (2,))
  assert log == [], log
  with compilations() as log:
    pop.init_params(config, pop.grid(["he_uniform"], range(2)), (2,))
  assert log, "another base draw is another program"


def test_pack_signature_names_only_the_base_draws_used() -> None:
  config, shape = MODELS["mlp"]
  forms = [programs.forms(config, shape, s) for s in ("zeros", "he_normal", "he_uniform")]
  signature, base, coef = programs.pack(forms)
  assert signature == ((("normal", "uniform"), ()),) * 3
  assert base.shape == (3, 3, 2) and coef.shape == (3, 3, 2, 4)
  assert list(base[:, 0, 0]) == [0, 1, 2]  # 0: a constant, then the draws named
  assert coef[0, 0, 0, 0] == 0.0 and coef[1, 0, 0, 0] == np.sqrt(np.float32(2 / 2))
