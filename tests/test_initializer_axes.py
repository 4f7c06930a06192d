"""Fan axes on the named initializers (``in_axis``, ``out_axis``, ``batch_axis``) and ``orthogonal``'s
``column_axis``: the fans, the variance, names, errors, and agreement with ``jax.nn.initializers``.

Variance tests are chi-square confidence intervals of the sample mean square (the mean is known to
be 0): for n independent N(0, v) entries, n * mean(w^2) / v ~ chi2(n); the interval is two-sided at
significance 1e-3, so a correct sampler fails it with probability 1e-3 for a random key (the keys
here are fixed).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxinit import initializers as I

ALPHA = 1e-3
KEY = jax.random.key(0)

# Every fan-based named scheme, with the variance it gives for (fan_in, fan_out), from the papers.
FAN_BASED = {
    "glorot_normal": lambda fi, fo: 2 / (fi + fo),
    "glorot_uniform": lambda fi, fo: 2 / (fi + fo),
    "glorot_truncated_normal": lambda fi, fo: 2 / (fi + fo),
    "lecun_normal": lambda fi, fo: 1 / fi,
    "lecun_uniform": lambda fi, fo: 1 / fi,
    "lecun_truncated_normal": lambda fi, fo: 1 / fi,
    "he_normal": lambda fi, fo: 2 / fi,
    "he_uniform": lambda fi, fo: 2 / fi,
    "he_truncated_normal": lambda fi, fo: 2 / fi,
    "simple_xavier": lambda fi, fo: 1 / (3 * fi),
}


def _variance_interval(n, variance):
  """The two-sided 1 - ALPHA interval of mean(w^2) for n independent N(0, variance) entries."""
  return (variance * stats.chi2.ppf(ALPHA / 2, n) / n, variance * stats.chi2.ppf(1 - ALPHA / 2, n) / n)


def test_he_normal_on_an_out_in_weight_has_variance_two_over_fan_in():
  """An equinox Linear(784 -> 128) stores its weight (out, in) = (128, 784): variance 2/784."""
  init = I.he_normal(in_axis=-1, out_axis=-2)
  shape = (128, 784)
  assert init.fans(shape) == (784, 128)
  assert init.target(shape).variance == pytest.approx(2 / 784, rel=1e-15)
  w = np.asarray(init(KEY, shape), np.float64)
  low, high = _variance_interval(w.size, 2 / 784)
  assert low < np.mean(w * w) < high
  assert np.mean(w * w) < 2 / 784 * 1.05 < 2 / 128  # the Flax-layout fans would give 2/128
  assert I.he_normal().target(shape).variance == pytest.approx(2 / 128)


def test_stacked_kernels_with_a_batch_axis_use_the_fans_of_one_layer():
  shape = (8, 256, 256)
  init = I.he_normal(batch_axis=0)
  assert init.fans(shape) == (256, 256)
  assert I.he_normal().fans(shape) == (2048, 2048)  # without it, the stack is a receptive field
  assert init.target(shape).variance == pytest.approx(2 / 256, rel=1e-15)
  w = np.asarray(init(KEY, shape), np.float64)
  low, high = _variance_interval(w[0].size, 2 / 256)  # each layer on its own
  assert all(low < np.mean(layer * layer) < high for layer in w)


@pytest.mark.parametrize("name", sorted(FAN_BASED))
def test_axes_read_the_fans_of_the_named_layout_for_every_fan_based_scheme(name):
  """A (out, in) weight with in_axis=-1, out_axis=-2 gets the (in, out) weight's fans, target and
  affine form (the draw's scale, which the population's compiled init programs use)."""
  factory = I.FACTORIES[name]
  swapped, flax = factory(in_axis=-1, out_axis=-2), factory()
  assert swapped.name == f"{name}(in_axis=-1, out_axis=-2)"
  assert swapped.fans((24, 40)) == (40, 24) == flax.fans((40, 24))
  assert swapped.target((24, 40)) == flax.target((40, 24))
  assert swapped.target((24, 40)).variance == pytest.approx(FAN_BASED[name](40, 24), rel=1e-12)
  assert swapped.affine((24, 40)) == flax.affine((40, 24))
  stacked = factory(batch_axis=0)
  assert stacked.fans((3, 40, 24)) == (40, 24)
  assert stacked.target((3, 40, 24)) == flax.target((40, 24))
  assert stacked.affine((3, 40, 24)) == flax.affine((40, 24))


@pytest.mark.slow
def test_an_axis_aware_draw_is_the_flat_draw_of_the_named_layout():
  """Every draw is one flat sample reshaped, so (out, in) with swapped axes is (in, out)'s draw."""
  swapped, flax = I.he_uniform(in_axis=-1, out_axis=-2), I.he_uniform()
  np.testing.assert_array_equal(np.ravel(swapped(KEY, (24, 40))), np.ravel(flax(KEY, (40, 24))))


@pytest.mark.parametrize(("ours", "theirs"), [
    ("he_truncated_normal(in_axis=-1, out_axis=-2)",
     lambda: jax.nn.initializers.he_normal(in_axis=-1, out_axis=-2)),
    pytest.param("glorot_truncated_normal(batch_axis=0)",
                 lambda: jax.nn.initializers.glorot_normal(batch_axis=0), marks=pytest.mark.slow),
    pytest.param("lecun_truncated_normal(in_axis=(0, 1))",
                 lambda: jax.nn.initializers.lecun_normal(in_axis=(0, 1), out_axis=-1),
                 marks=pytest.mark.slow),
    pytest.param("he_normal(in_axis=-1, out_axis=-2)", lambda: jax.nn.initializers.variance_scaling(
        2.0, "fan_in", "normal", in_axis=-1, out_axis=-2), marks=pytest.mark.slow),
    pytest.param("glorot_uniform(in_axis=-1, out_axis=-2, batch_axis=0)",
                 lambda: jax.nn.initializers.variance_scaling(
                     1.0, "fan_avg", "uniform", in_axis=-1, out_axis=-2, batch_axis=0),
                 marks=pytest.mark.slow),
])
def test_axis_aware_draws_equal_jax_bit_for_bit(ours, theirs):
  shape = (4, 12, 20)
  init = I.get(ours)
  assert init.name == ours
  expected = jax.jit(theirs(), static_argnums=1)(KEY, shape)
  np.testing.assert_array_equal(init(KEY, shape), expected)


@pytest.mark.parametrize(("given", "canonical"), [
    ("he_normal(in_axis=-2, out_axis=-1, batch_axis=())", "he_normal"),  # defaults are not shown
    ("glorot_uniform(gain=2.0, batch_axis=(0,))", "glorot_uniform(gain=2.0, batch_axis=0)"),
    ("lecun_normal(in_axis=(0, 1))", "lecun_normal(in_axis=(0, 1))"),
    ("kaiming_uniform(mode=fan_out, in_axis=-1, out_axis=-2)",
     "he_uniform(mode=fan_out, in_axis=-1, out_axis=-2)"),
    ("simple_xavier(batch_axis=(0, 1))", "simple_xavier(batch_axis=(0, 1))"),
    ("variance_scaling(scale=2.0, in_axis=-1, out_axis=-2)",
     "variance_scaling(scale=2.0, mode=fan_in, distribution=truncated_normal, in_axis=-1, out_axis=-2)"),
    ("orthogonal(column_axis=-1)", "orthogonal"),
    ("orthogonal(gain=2.0, column_axis=0)", "orthogonal(gain=2.0, column_axis=0)"),
])
def test_axis_names_round_trip(given, canonical):
  init = I.get(given)
  assert init.name == canonical
  assert I.get(canonical).name == canonical
  assert I.lecun_normal(batch_axis=[0]).name == I.lecun_normal(batch_axis=0).name


@pytest.mark.parametrize(("name", "shape", "message"), [
    ("he_normal(in_axis=x)", None, r"he_normal: in_axis='x' is not accepted; accepted: an int axis"),
    ("glorot_uniform(batch_axis=1.5)", None, r"glorot_uniform: batch_axis=1.5 is not accepted"),
    ("lecun_normal(in_axis=())", None, r"in_axis=\(\) is not accepted; accepted: an int axis or a"),
    ("he_uniform(out_axis=True)", None, r"out_axis=True is not accepted"),
    ("he_normal(in_axis=-1)", None,
     r"he_normal: in_axis=-1, out_axis=-1 and batch_axis=\(\) overlap; accepted: each axis in at most"),
    ("orthogonal(column_axis=(0, 1))", None, r"orthogonal: column_axis=\(0, 1\) is not accepted; "
     "accepted: an int axis$"),
    ("he_normal(in_axis=2)", (3, 4), r"he_normal\(in_axis=2\): axes \(2,\) are out of range for "
     r"shape \(3, 4\); accepted: axes from -2 to 1"),
    ("he_normal(in_axis=1)", (3, 4), r"overlap on shape \(3, 4\); accepted"),
    ("orthogonal(column_axis=2)", (3, 4), r"column_axis=2 is out of range for shape \(3, 4\)"),
])
def test_bad_axes_raise_one_line_value_errors(name, shape, message):
  with pytest.raises(ValueError, match=message) as error:
    init = I.get(name)
    init(KEY, shape)
  assert "\n" not in str(error.value)
  if shape is not None:  # the target and the fans refuse the shape the same way
    for read in (I.get(name).target, I.get(name).fans):
      with pytest.raises(ValueError, match=message):
        read(shape)


ORTHOGONAL_CASES = [
    ((64, 3, 3), 0, 1.0),  # 64 columns, 9 rows: wide, orthonormal rows
    pytest.param((16, 8, 4), 0, 2.0, marks=pytest.mark.slow),  # 16 columns, 32 rows: tall
    pytest.param((5, 12, 7), 1, 1.0, marks=pytest.mark.slow),  # 12 columns, 35 rows: tall
]


@pytest.mark.parametrize(("shape", "column_axis", "gain"), ORTHOGONAL_CASES)
def test_orthogonal_column_axis_is_orthonormal_along_that_axis(shape, column_axis, gain):
  init = I.orthogonal(gain=gain, column_axis=column_axis)
  w = init(KEY, shape)
  cols = shape[column_axis]
  M = np.asarray(jnp.moveaxis(w, column_axis, -1).reshape(-1, cols), np.float64)
  gram = M.T @ M if M.shape[0] >= cols else M @ M.T
  np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(M.shape)), atol=1e-5 * gain ** 2)
  target = init.target(shape)
  assert target.variance == pytest.approx(gain ** 2 / max(M.shape), rel=1e-12)
  assert np.mean(M * M) == pytest.approx(target.variance, rel=1e-5)  # exact for every draw


def test_orthogonal_targets_read_the_column_axis():
  """Mean square gain^2 / max(rows, cols), cols = shape[column_axis]; the default is the last axis."""
  assert math.isclose(I.orthogonal().target((6, 10)).variance, 1 / 10)
  assert math.isclose(I.orthogonal(column_axis=0).target((6, 10)).variance, 1 / 10)
  assert math.isclose(I.orthogonal(column_axis=0).target((6, 2, 10)).variance, 1 / 20)
  assert math.isclose(I.orthogonal(gain=3.0).target((6, 2, 10)).variance, 9 / 12)


@pytest.mark.slow
@pytest.mark.parametrize(("shape", "column_axis", "gain"), ORTHOGONAL_CASES)
def test_orthogonal_column_axis_draws_equal_jax_bit_for_bit(shape, column_axis, gain):
  """The orthonormality above is jax's: the same matrices (each a compile of QR, ~2 s on a CPU)."""
  expected = jax.jit(jax.nn.initializers.orthogonal(scale=gain, column_axis=column_axis),
                     static_argnums=1)(KEY, shape)
  np.testing.assert_array_equal(I.orthogonal(gain=gain, column_axis=column_axis)(KEY, shape), expected)
