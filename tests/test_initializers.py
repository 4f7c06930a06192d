"""Tests for jaxinit.initializers: distributions, exactness against jax, edge cases, names.

Statistical tests use fixed keys, so the suite is deterministic; their stated tolerances are the ones
a correct sampler passes with high probability for a random key (KS at significance 1e-3, mean and
variance within 4 standard errors).
"""

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxinit import initializers as I

KS_ALPHA = 1e-3
TRUNC2 = stats.truncnorm(-2, 2).std()  # 0.8796..., computed independently of the library

# Shape -> (fan_in, fan_out), written out by hand: dense, conv 3x3 (receptive field 9), 1-D.
SHAPES = {(256, 128): (256, 128), (3, 3, 16, 32): (144, 288), (4096,): (4096, 4096)}


def _trunc(std):
  return stats.truncnorm(-2, 2, scale=std / TRUNC2)


def _unif(bound):
  return stats.uniform(-bound, 2 * bound)


# Scheme -> its exact distribution given (fan_in, fan_out), from the papers' formulas.
EXPECTED = {
    "normal(stddev=0.5)": lambda fi, fo: stats.norm(0, 0.5),
    "uniform": lambda fi, fo: stats.uniform(-1, 2),
    "uniform(low=-0.3, high=0.7)": lambda fi, fo: stats.uniform(-0.3, 1.0),
    "random_uniform": lambda fi, fo: stats.uniform(-0.05, 0.1),
    "random_normal": lambda fi, fo: stats.norm(0, 0.05),
    "large_normal": lambda fi, fo: stats.norm(0, 10.0),
    "truncated_normal(stddev=0.2)": lambda fi, fo: _trunc(0.2),
    "truncated_normal(stddev=1.0, bound=3.0)": lambda fi, fo: stats.truncnorm(
        -3, 3, scale=1 / stats.truncnorm(-3, 3).std()),
    "glorot_normal": lambda fi, fo: stats.norm(0, math.sqrt(2 / (fi + fo))),
    "glorot_normal(gain=2.0)": lambda fi, fo: stats.norm(0, 2 * math.sqrt(2 / (fi + fo))),
    "glorot_uniform": lambda fi, fo: _unif(math.sqrt(6 / (fi + fo))),
    "glorot_truncated_normal": lambda fi, fo: _trunc(math.sqrt(2 / (fi + fo))),
    "simple_xavier": lambda fi, fo: _unif(1 / math.sqrt(fi)),
    "lecun_normal": lambda fi, fo: stats.norm(0, 1 / math.sqrt(fi)),
    "lecun_uniform": lambda fi, fo: _unif(math.sqrt(3 / fi)),
    "lecun_truncated_normal": lambda fi, fo: _trunc(1 / math.sqrt(fi)),
    "he_normal": lambda fi, fo: stats.norm(0, math.sqrt(2 / fi)),
    "he_normal(negative_slope=0.2)": lambda fi, fo: stats.norm(0, math.sqrt(2 / (1.04 * fi))),
    "he_uniform": lambda fi, fo: _unif(math.sqrt(6 / fi)),
    "he_uniform(mode=fan_out)": lambda fi, fo: _unif(math.sqrt(6 / fo)),
    "he_truncated_normal": lambda fi, fo: _trunc(math.sqrt(2 / fi)),
    "variance_scaling(scale=3.0, mode=fan_geo_avg, distribution=uniform)":
        lambda fi, fo: _unif(math.sqrt(9 / math.sqrt(fi * fo))),
    "variance_scaling(scale=0.5, mode=fan_avg, distribution=truncated_normal)":
        lambda fi, fo: _trunc(math.sqrt(0.5 / ((fi + fo) / 2))),
}

STAT_CASES = [(n, s) for n in EXPECTED for s in SHAPES]


def fast_subset(cases, fast, ids=None):
  """``cases`` for parametrize, each one not chosen by ``fast(index, case)`` marked slow.

  Most of these tests' time is one compile per case, so the fast suite keeps a part of each grid
  that still covers every scheme (or code path) once, and ``pytest -m slow`` runs the rest.
  """
  return [pytest.param(*c, marks=() if fast(i, c) else pytest.mark.slow,
                       id=None if ids is None else ids[i]) for i, c in enumerate(cases)]




@pytest.mark.parametrize(("name", "shape"), fast_subset(
    STAT_CASES, lambda i, c: i % len(SHAPES) == (i // len(SHAPES)) % len(SHAPES),
    [f"{n}-{s}" for n, s in STAT_CASES]), ids=[f"{n}-{s}" for n, s in STAT_CASES])
def test_distribution_matches_exact_target(name, shape):
  """Fast suite: every scheme at one of the three shapes (each shape for a third of them)."""
  dist = EXPECTED[name](*SHAPES[shape])
  x = np.asarray(I.get(name)(jax.random.key(7), shape), np.float64).ravel()
  n = x.size
  assert stats.kstest(x, dist.cdf).pvalue > KS_ALPHA
  mean, var, kurt = (float(v) for v in dist.stats(moments="mvk"))
  assert abs(x.mean() - mean) < 4 * math.sqrt(var / n)
  var_se = math.sqrt((kurt + 2) * var ** 2 / n)  # Var of the sample variance: (mu4 - sigma^4) / n
  assert abs(x.var() - var) < 4 * var_se


@pytest.mark.parametrize("name", list(EXPECTED))
def test_declared_target_equals_exact_distribution(name):
  """``target()`` (what `jaxinit sample` prints and plots) states the exact distribution."""
  for shape, (fi, fo) in SHAPES.items():
    dist, target = EXPECTED[name](fi, fo), I.get(name).target(shape)
    np.testing.assert_allclose([target.mean, target.variance], [dist.mean(), dist.var()],
                               rtol=1e-9, atol=1e-12)
    grid = np.linspace(*dist.ppf([0.001, 0.999]), 7)
    np.testing.assert_allclose(target.pdf(grid), dist.pdf(grid), rtol=1e-9)


def test_fans_flax_layout_and_policies():
  assert I.fans((784, 128)) == (784, 128)
  assert I.fans((3, 3, 16, 32)) == (144, 288)
  assert I.fans((5, 8, 4)) == (40, 20)  # 1-D conv: receptive field 5
  assert I.fans((7,)) == (7, 7)  # 1-D policy (Keras)
  assert I.fans(()) == (1, 1)  # 0-D policy
  assert I.fans((6, 4, 5), batch_axis=0) == (4, 5)
  with pytest.raises(ValueError, match="overlap"):
    I.fans((4, 5), in_axis=0, out_axis=0)


# ----------------------------------------------------------------------------- agreement with jax

JAX = jax.nn.initializers

BIT_IDENTICAL = [
    ("zeros", JAX.zeros),
    ("ones", JAX.ones),
    ("constant(0.005)", JAX.constant(0.005)),
    ("normal(stddev=0.3)", JAX.normal(0.3)),
    ("glorot_uniform", JAX.glorot_uniform()),
    ("lecun_uniform", JAX.lecun_uniform()),
    ("he_uniform", JAX.he_uniform()),
    # jax's *_normal are truncated normals: ours are *_truncated_normal.
    ("glorot_truncated_normal", JAX.glorot_normal()),
    ("lecun_truncated_normal", JAX.lecun_normal()),
    ("he_truncated_normal", JAX.he_normal()),
    ("he_normal", JAX.variance_scaling(2.0, "fan_in", "normal")),
    ("glorot_normal", JAX.variance_scaling(1.0, "fan_avg", "normal")),
    ("lecun_normal", JAX.variance_scaling(1.0, "fan_in", "normal")),
    ("simple_xavier", JAX.variance_scaling(1 / 3, "fan_in", "uniform")),
    ("orthogonal(gain=1.5)", JAX.orthogonal(1.5)),
    ("delta_orthogonal(gain=2.0)", JAX.delta_orthogonal(2.0)),
] + [  # the modes the named schemes above do not use (fan_in: He, LeCun; fan_avg: Glorot)
    (f"variance_scaling(scale=1.7, mode={m}, distribution={d})", JAX.variance_scaling(1.7, m, d))
    for m in I.MODES if m not in ("fan_in", "fan_avg") for d in I.DISTRIBUTIONS
]
EAGER = ("normal(stddev=0.3)", "he_truncated_normal", "glorot_uniform")
"""The cases also compared with jax's eager (uncompiled) output (op by op, slow to run)."""


BIT_FAST = (*EAGER, "zeros", "he_normal", "lecun_uniform", "orthogonal(gain=1.5)",
            "delta_orthogonal(gain=2.0)",
            "variance_scaling(scale=1.7, mode=fan_out, distribution=normal)")
"""The cases the fast suite compares (one per code path); ``-m slow`` compares every case."""


@pytest.mark.parametrize(("name", "reference"), fast_subset(
    BIT_IDENTICAL, lambda i, c: c[0] in BIT_FAST, [n for n, _ in BIT_IDENTICAL]),
    ids=[n for n, _ in BIT_IDENTICAL])
def test_bit_identical_to_jax_in_float32(name, reference):
  """Ours equals jax's initializer compiled with jit, bit for bit, for the same key.

  Compared with jax's *eager* output, normal draws differ by 1 ulp in ~20% of entries: eagerly jax
  rounds the sample and the scaling separately, compiled it fuses them (one FMA). jax's own eager
  and jitted outputs differ so; ours are always compiled, so they are the same eager and in jit.
  """
  shape = (3, 3, 16, 32)
  key = jax.random.key(3)
  ours = I.get(name)(key, shape)
  theirs = jax.jit(reference, static_argnums=(1, 2))(key, shape, jnp.float32)
  assert ours.dtype == theirs.dtype == jnp.float32
  np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
  if name in EAGER:
    np.testing.assert_allclose(ours, reference(key, shape, jnp.float32), rtol=2e-7, atol=1e-30)


def test_truncated_normal_differs_from_jax_by_the_documented_correction():
  # Not bit-identical by design: our stddev is the standard deviation after truncation, jax's the
  # one before. With jax's stddev divided by 0.8796 the draws agree to float32 rounding (the
  # factor is formed as f32(stddev) / f32(0.8796) here and as f32(stddev / 0.8796) in jax).
  key, shape = jax.random.key(4), (64, 64)
  ours = I.truncated_normal(stddev=0.3)(key, shape)
  theirs = JAX.truncated_normal(0.3 / TRUNC2)(key, shape, jnp.float32)
  np.testing.assert_allclose(ours, theirs, rtol=2e-7, atol=0)
  assert float(jnp.std(ours)) == pytest.approx(0.3, rel=0.03)
  jax_plain = JAX.truncated_normal(0.3)(key, shape, jnp.float32)  # stddev before truncation
  assert float(jnp.std(jax_plain)) == pytest.approx(0.3 * TRUNC2, rel=0.03)


def test_uniform_is_symmetric_and_matches_jax_when_shifted():
  # jax.nn.initializers.uniform(scale) is U[0, scale); ours is U(low, high) with default U(-1, 1).
  key, shape = jax.random.key(5), (128, 128)
  x = I.uniform()(key, shape)
  assert float(x.min()) < -0.99 and float(x.max()) > 0.99
  ours = I.uniform(low=0.0, high=0.1)(key, shape)
  theirs = JAX.uniform(0.1)(key, shape, jnp.float32)
  np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-8)


# ----------------------------------------------------------------------------- structured schemes


@pytest.mark.parametrize("shape", [(64, 64), (256, 64), (64, 256), (3, 3, 16, 32)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal_gram_is_gain_squared_identity(shape, gain):
  w = np.asarray(I.orthogonal(gain=gain)(jax.random.key(0), shape), np.float64)
  w = w.reshape(-1, shape[-1])
  gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
  np.testing.assert_allclose(gram, gain ** 2 * np.eye(len(gram)), atol=1e-5 * gain ** 2)
  assert np.mean(w ** 2) == pytest.approx(I.orthogonal(gain=gain).target(shape).variance, rel=1e-5)


@pytest.mark.parametrize("shape", [(3, 8, 16), (3, 3, 16, 32), (5, 5, 8, 8), (3, 3, 3, 4, 4)])
def test_delta_orthogonal_only_centre_tap_and_orthogonal(shape):
  w = np.asarray(I.delta_orthogonal(gain=1.5)(jax.random.key(1), shape), np.float64)
  centre = tuple((k - 1) // 2 for k in shape[:-2])
  tap = w[centre]
  rest = w.copy()
  rest[centre] = 0
  assert np.all(rest == 0)
  np.testing.assert_allclose(tap @ tap.T, 2.25 * np.eye(shape[-2]), atol=1e-5)


def test_structured_targets_are_exact():
  w = np.asarray(I.identity(gain=2.0)(jax.random.key(0), (3, 3, 4, 6)), np.float64)
  t = I.identity(gain=2.0).target((3, 3, 4, 6))
  assert (t.mean, t.variance) == pytest.approx((w.mean(), w.var()), rel=1e-12)
  d = np.asarray(I.delta_orthogonal()(jax.random.key(0), (3, 3, 4, 6)), np.float64)
  assert I.delta_orthogonal().target((3, 3, 4, 6)).variance == pytest.approx(np.mean(d ** 2), 1e-6)


def test_target_has_no_distribution_for_empty_shapes_or_density_without_variance():
  with pytest.raises(ValueError, match="no entries"):
    I.he_normal().target((0, 128))
  assert I.normal(stddev=0.0).target((4, 4)).pdf(np.zeros(3)) is None
  assert I.zeros().target((4, 4)).pdf(np.zeros(3)) is None


def test_identity_is_eye_and_dirac():
  np.testing.assert_array_equal(I.get("eye")(jax.random.key(0), (3, 5)), np.eye(3, 5))
  w = np.asarray(I.identity(gain=2.0)(jax.random.key(0), (3, 3, 4, 4)))
  expected = np.zeros((3, 3, 4, 4))
  expected[1, 1] = 2 * np.eye(4)
  np.testing.assert_array_equal(w, expected)


# ----------------------------------------------------------------------------- transformations

RANDOM_SCHEMES = ["normal(stddev=0.5)", "uniform", "uniform(low=-0.3, high=0.7)", "random_uniform",
                  "truncated_normal(stddev=0.2)", "he_normal",
                  "glorot_uniform", "lecun_truncated_normal", "orthogonal", "simple_xavier"]


@pytest.mark.parametrize("name", fast_subset(
    [(n,) for n in [*RANDOM_SCHEMES, "identity", "delta_orthogonal", "constant(0.1)"]],
    lambda i, c: i % 2 == 0 or c[0] == "delta_orthogonal"))
def test_jit_equals_no_jit(name):
  init, key = I.get(name), jax.random.key(11)
  shape = (3, 3, 8, 16)
  eager = init(key, shape)
  jitted = jax.jit(init, static_argnums=1)(key, shape)
  np.testing.assert_array_equal(eager, jitted)


def test_shifted_uniform_jit_equals_no_jit_for_many_intervals():
  rng = np.random.default_rng(0)
  for low, width in zip(rng.normal(size=4), rng.exponential(size=4), strict=True):
    init = I.uniform(low=float(low), high=float(low + width))
    eager = init(jax.random.key(3), (64, 32))
    np.testing.assert_array_equal(eager, jax.jit(init, static_argnums=1)(jax.random.key(3), (64, 32)))
    assert float(eager.min()) >= low and float(eager.max()) <= low + width


@pytest.mark.parametrize("name", fast_subset([(n,) for n in RANDOM_SCHEMES], lambda i, c: i % 2 == 1))
def test_vmap_over_keys_gives_the_single_draws_and_independent_ones(name):
  """A member's draw is bit-identical alone (eager) or inside a jit(vmap) population."""
  init, shape, m = I.get(name), (128, 64), 8
  keys = jax.random.split(jax.random.key(2), m)
  batch = np.asarray(jax.jit(jax.vmap(lambda k: init(k, shape)))(keys))
  assert batch.shape == (m, *shape)
  for i in (0, 3, 7):
    np.testing.assert_array_equal(batch[i], init(keys[i], shape))
  corr = np.corrcoef(batch.reshape(m, -1))[np.triu_indices(m, 1)]
  # Independent draws: |correlation| below 4 standard errors (1/sqrt(n)). Orthogonal matrices of
  # one draw are not i.i.d. entrywise, but distinct draws are still uncorrelated.
  assert np.max(np.abs(corr)) < 4 / math.sqrt(batch[0].size)


@pytest.mark.parametrize("factory, param", fast_subset([
    (lambda s: I.variance_scaling(scale=s, mode="fan_in", distribution="normal"), "scale"),
    (lambda s: I.variance_scaling(scale=s, mode="fan_avg", distribution="uniform"), "scale"),
    (lambda s: I.normal(stddev=s), "stddev"),
    (lambda s: I.truncated_normal(stddev=s), "stddev"),
    (lambda s: I.he_normal(gain=s), "gain"),
    (lambda s: I.orthogonal(gain=s), "gain"),
    (lambda s: I.constant(s), "value"),
    (lambda s: I.uniform(low=-s, high=s), "low"),
    (lambda s: I.uniform(low=0.0, high=s), "high"),
    (lambda s: I.he_uniform(negative_slope=s), "negative_slope"),
    (lambda s: I.glorot_normal(gain=s), "gain"),
    (lambda s: I.lecun_uniform(gain=s), "gain"),
    (lambda s: I.simple_xavier(gain=s), "gain"),
    (lambda s: I.delta_orthogonal(gain=s), "gain"),
    (lambda s: I.identity(gain=s), "gain"),
], lambda i, c: i % 2 == 0))
def test_vmap_over_a_traced_parameter(factory, param):
  """A swept parameter gives the concrete draws to float32 rounding (a traced scale / fan is
  rounded in float32, a concrete one in float64 before the cast: 1 ulp apart at most)."""
  key, shape = jax.random.key(9), (3, 32, 32)
  values = jnp.array([0.5, 3.0])
  swept = jax.vmap(lambda s: factory(s)(key, shape))(values)
  for v, w in zip(values.tolist(), swept, strict=True):
    np.testing.assert_allclose(w, factory(v)(key, shape), rtol=1e-6, atol=1e-7)
  names_seen = []
  jax.vmap(lambda s: names_seen.append(factory(s).name) or s)(values)
  assert "<traced>" in names_seen[0]


# ----------------------------------------------------------------------------- edge cases

ALL_SCHEMES = [*I.known(), "normal(stddev=0.1)", "he_uniform(mode=fan_out)"]


@pytest.mark.parametrize("name", ALL_SCHEMES)
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (3, 3, 0, 4)])
def test_zero_size_dimension_gives_empty_array(name, shape):
  if name == "delta_orthogonal":  # takes conv kernels only
    shape = (3, *shape) if shape[-1] else (3, 0, 4)
  x = I.get(name)(jax.random.key(0), shape, jnp.bfloat16)
  assert x.shape == shape and x.dtype == jnp.bfloat16


def test_one_and_zero_dimensional_shapes_follow_the_fan_policy():
  x = np.asarray(I.he_normal()(jax.random.key(0), (20000,)), np.float64)
  assert x.var() == pytest.approx(2 / 20000, rel=4 * math.sqrt(2 / 20000))
  assert I.he_normal().target(()).variance == 2.0
  assert I.he_normal()(jax.random.key(0), ()).shape == ()
  for name in ("orthogonal", "identity"):
    with pytest.raises(ValueError, match="at least 2"):
      I.get(name)(jax.random.key(0), (8,))


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.uint8, jnp.bool_, jnp.complex64])
@pytest.mark.parametrize("name", ["he_normal", "zeros", "orthogonal", "uniform"])
def test_non_floating_dtypes_raise_type_error(name, dtype):
  with pytest.raises(TypeError, match="accepted: floating dtypes"):
    I.get(name)(jax.random.key(0), (4, 4), dtype)


@pytest.mark.parametrize(("name", "dtype"), fast_subset(
    [(n, d) for d in (jnp.bfloat16, jnp.float16) for n in RANDOM_SCHEMES],
    lambda i, c: i % 3 == 0 or c[0] == "truncated_normal(stddev=0.2)",
    [f"{n}-{d.__name__}" for d in (jnp.bfloat16, jnp.float16) for n in RANDOM_SCHEMES]))
def test_half_precision_is_sampled_in_float32_and_cast(name, dtype):
  init, key, shape = I.get(name), jax.random.key(6), (256, 256)
  x = init(key, shape, dtype)
  assert x.dtype == dtype
  np.testing.assert_array_equal(x, init(key, shape, jnp.float32).astype(dtype))
  assert len(np.unique(np.asarray(x, np.float32))) > 1000


def test_bfloat16_direct_sampling_is_the_pitfall_we_avoid():
  direct = jax.nn.initializers.normal(1.0)(jax.random.key(6), (256, 256), jnp.bfloat16)
  ours = I.normal(stddev=1.0)(jax.random.key(6), (256, 256), jnp.bfloat16)
  assert len(np.unique(np.asarray(direct, np.float32))) < 1000 < len(
      np.unique(np.asarray(ours, np.float32)))


@pytest.mark.parametrize(("shape", "error", "match"), [
    ((3, -1), ValueError, "negative dimension; accepted: sizes >= 0"),
    (("a", 3), TypeError, "not a sequence of ints; accepted: e.g. "),
    ((2.5, 3), TypeError, "not a sequence of ints; accepted: e.g. "),
])
def test_bad_shapes(shape, error, match):
  with pytest.raises(error, match=match):
    I.he_normal()(jax.random.key(0), shape)


@pytest.mark.parametrize(("shape", "match"), [
    ((3, 3, 32, 16), r"in=32 > out=16; accepted: in <= out"),
    ((8, 8), r"2 dimensions; accepted: a conv kernel"),
    ((1, 1, 1, 1, 1, 4, 4), r"7 dimensions; accepted: a conv kernel"),
])
def test_delta_orthogonal_rejects_bad_shapes(shape, match):
  with pytest.raises(ValueError, match=match):
    I.delta_orthogonal()(jax.random.key(0), shape)


@pytest.mark.parametrize(("text", "match"), [
    ("hee_normal", r"unknown initializer 'hee_normal'; known: .*he_normal"),
    ("normal(stddev=-1)", r"accepted: a number >= 0"),
    ("normal(foo=1)", r"accepted: stddev"),
    ("uniform(low=1, high=0)", r"accepted: low < high"),
    ("variance_scaling(mode=fan_foo)", r"accepted: fan_in, fan_out, fan_avg, fan_geo_avg"),
    ("variance_scaling(distribution=cauchy)", r"accepted: normal, truncated_normal, uniform"),
    ("he_normal(mode=fan_avg)", r"accepted: fan_in, fan_out"),
    ("truncated_normal(bound=0)", r"accepted: a number >= 0.01"),
    ("normal(stddev=nan)", r"stddev='nan' is not a number; accepted: a real number"),
    ("normal(stddev='0.1')", r"is not a number; accepted: a real number"),
    ("normal(stddev=0.1, stddev=0.2)", r"stddev is given twice"),
    ("he_normal(gain=1e200)", r"scale=inf is out of range; accepted: a number >= 0.0"),
    ("uniform(low=-1e308, high=1e308)", r"accepted: low < high with a finite width"),
    ("variance_scaling(in_axis=a)", r"accepted: an int axis or a tuple of int axes"),
    ("variance_scaling(in_axis=1.5)", r"accepted: an int axis or a tuple of int axes"),
    ("normal(", r"cannot parse"),
    ("random_normal(stddev=1)", r"takes no arguments"),
])
def test_bad_names_and_parameters_raise_value_error(text, match):
  with pytest.raises(ValueError, match=match):
    I.get(text)


def test_unknown_name_lists_every_known_scheme_and_alias():
  with pytest.raises(ValueError) as info:
    I.get("nope")
  for name in [*I.known(), *I.ALIASES]:
    assert name in str(info.value)


# ----------------------------------------------------------------------------- names

ODD_SPELLINGS = {"normal(stddev=1e-2)": "normal(stddev=0.01)", "normal(0.5)": "normal(stddev=0.5)",
                 "constant(value=-0.0)": "constant(-0.0)", "constant(2)": "constant(2.0)",
                 " He_Normal ": "he_normal", "he_normal(gain=1)": "he_normal",
                 "uniform(-2, 2)": "uniform(low=-2.0, high=2.0)",
                 "variance_scaling(2, fan_avg, normal)":
                     "variance_scaling(scale=2.0, mode=fan_avg, distribution=normal)",
                 "variance_scaling(in_axis=(-2,), batch_axis=(0,))":
                     "variance_scaling(scale=1.0, mode=fan_in, distribution=truncated_normal, "
                     "batch_axis=0)"}


@pytest.mark.parametrize(("text", "canonical"), list(ODD_SPELLINGS.items()))
def test_odd_spellings_print_canonically(text, canonical):
  assert I.get(text).name == canonical
  assert I.get(canonical).name == canonical


EXAMPLES = ["he_normal", "normal(stddev=0.01)", "constant(0.005)",
            "variance_scaling(scale=2.0, mode=fan_in, distribution=uniform)",
            "uniform(low=-0.05, high=0.05)", "he_normal(gain=1.5, negative_slope=0.1, mode=fan_out)",
            "truncated_normal(stddev=0.1, bound=3.0)", "orthogonal(gain=2.0)",
            "variance_scaling(scale=1.0, mode=fan_in, distribution=normal, batch_axis=0)"]


@pytest.mark.parametrize("name", [*I.known(), *I.ALIASES, *EXAMPLES])
def test_every_name_round_trips(name):
  canonical = I.get(name).name
  assert I.get(canonical).name == canonical
  key, shape = jax.random.key(0), (4, 3, 8, 8)
  np.testing.assert_array_equal(I.get(canonical)(key, shape), I.get(name)(key, shape))


@pytest.mark.parametrize("name", EXAMPLES)
def test_canonical_examples_print_as_written(name):
  assert I.get(name).name == name


@pytest.mark.parametrize(("alias", "canonical"), [
    ("xavier_normal", "glorot_normal"), ("xavier_uniform", "glorot_uniform"),
    ("kaiming_normal", "he_normal"), ("kaiming_uniform", "he_uniform"),
    ("kaiming_normal(mode=fan_out)", "he_normal(mode=fan_out)"),
    ("random_uniform", "uniform(low=-0.05, high=0.05)"), ("random_normal", "normal(stddev=0.05)"),
    ("large_normal", "normal(stddev=10.0)"), ("normal(stddev=10)", "normal(stddev=10.0)"),
    ("torch_default", "simple_xavier"), ("Xavier_Normal", "glorot_normal"),
])
def test_aliases_resolve_to_the_same_scheme(alias, canonical):
  assert I.get(alias).name == canonical


@pytest.mark.parametrize("name", list(I.FACTORIES))
def test_every_factory_is_an_explicit_def(name):
  """Each scheme is a grep-able module-level ``def <name>(`` with its own signature and docstring,
  not a factory generated with ``__name__`` set by hand (``jaxinit schemes`` prints the signature)."""
  factory = I.FACTORIES[name]
  assert factory.__name__ == name
  assert f"\ndef {name}(" in inspect.getsource(inspect.getmodule(factory))
  kinds = {p.kind for p in inspect.signature(factory).parameters.values()}
  assert not kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
  assert factory.__doc__ and factory is getattr(I, name)


# ----------------------------------------------------------------------------- flax integration


def test_flax_linen_dense_and_conv():
  import flax.linen as nn

  x = jnp.ones((2, 8, 8, 16))
  conv = nn.Conv(64, (3, 3), kernel_init=I.get("he_normal"), bias_init=I.get("constant(0.1)"))
  params = conv.init(jax.random.key(0), x)["params"]
  kernel = np.asarray(params["kernel"], np.float64)
  assert kernel.shape == (3, 3, 16, 64)
  se = math.sqrt(2 / kernel.size)
  assert kernel.var() == pytest.approx(2 / 144, rel=4 * se)  # fan_in includes the 3x3 field
  np.testing.assert_array_equal(params["bias"], np.full(64, 0.1, np.float32))
  dense = nn.Dense(32, kernel_init=I.get("orthogonal(gain=2.0)"), param_dtype=jnp.bfloat16)
  w = dense.init(jax.random.key(1), jnp.ones((1, 128)))["params"]["kernel"]
  assert w.dtype == jnp.bfloat16 and w.shape == (128, 32)
  np.testing.assert_allclose(np.asarray(w, np.float32).T @ np.asarray(w, np.float32),
                             4 * np.eye(32), atol=0.05)


def test_flax_nnx_linear_and_conv():
  from flax import nnx

  rngs = nnx.Rngs(0)
  lin = nnx.Linear(512, 256, kernel_init=I.get("glorot_uniform"), rngs=rngs)
  w = np.asarray(lin.kernel[...], np.float64)
  bound = math.sqrt(6 / (512 + 256))
  assert w.shape == (512, 256) and np.abs(w).max() <= bound
  assert stats.kstest(w.ravel(), stats.uniform(-bound, 2 * bound).cdf).pvalue > KS_ALPHA
  conv = nnx.Conv(8, 16, (3, 3), kernel_init=I.get("delta_orthogonal"), rngs=rngs)
  k = np.asarray(conv.kernel[...])
  assert k.shape == (3, 3, 8, 16)
  np.testing.assert_allclose(k[1, 1] @ k[1, 1].T, np.eye(8), atol=1e-5)
  assert np.count_nonzero(k) == np.count_nonzero(k[1, 1])
