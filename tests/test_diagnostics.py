"""Tests of the per-layer diagnostics: statistics against NumPy, theory, gradients, Jacobians, traces."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from jaxinit import activations, data, initializers
from jaxinit.engine import population as pop
from jaxinit.nets import models
from jaxinit.studies import measure

MOONS = data.moons(0)
X_MOONS, Y_MOONS = MOONS.x_train[:64], MOONS.y_train[:64]


def _record(diag: measure.Diagnostics, member: int, layer: int, quantity: str) -> dict:
  (row,) = [r for r in diag.records
            if (r["member"], r["layer"], r["quantity"]) == (member, layer, quantity)]
  return row


def _conv_same(x: np.ndarray, kernel: np.ndarray) -> jax.Array:
  """A 'SAME' convolution ``(B, H, W, C) * (kh, kw, C, O)``, stride 1, as flax's Conv computes."""
  return jax.lax.conv_general_dilated(jnp.asarray(x), jnp.asarray(kernel), (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      precision="highest")


def _member(variables_M: dict, k: int) -> dict:
  return jax.tree.map(lambda a: a[k], variables_M)


def _check_stats(row: dict, v: np.ndarray, edges: np.ndarray) -> None:
  """The record's statistics are those of ``v``; the histogram is ``np.histogram`` on ``edges``
  (the layer's row).

  ``v`` is recomputed outside the vmapped program, so it may differ by float32 rounding (batched
  and unbatched matmuls round differently): min/max agree to 1e-6 and histogram counts exactly,
  except that a value within 1e-6 of an edge may fall on either side (none do with these seeds).
  """
  v = np.asarray(v, np.float32).reshape(-1)
  v64 = v.astype(np.float64)
  scale = float(np.max(np.abs(v64))) or 1.0
  np.testing.assert_allclose(row["mean"], v64.mean(), rtol=1e-5, atol=1e-6 * scale)
  np.testing.assert_allclose(row["std"], v64.std(), rtol=1e-5, atol=1e-7 * scale)
  if v64.std() > 0:
    np.testing.assert_allclose(row["pooled_kurtosis"],
                               scipy.stats.kurtosis(v64, fisher=True, bias=True), rtol=1e-4,
                               atol=1e-4)
  else:
    assert math.isnan(row["pooled_kurtosis"])
  assert row["distinct"] == np.unique(v).size
  np.testing.assert_allclose([row["min"], row["max"]], [v.min(), v.max()], rtol=1e-6, atol=1e-12)
  near = int(np.sum(np.min(np.abs(v64[:, None] - edges[None, :]), axis=1) <= 1e-6 * scale))
  assert np.abs(np.asarray(row["hist"]) - np.histogram(v, edges)[0]).sum() <= 2 * near
  assert sum(row["hist"]) == v.size  # the default edges count every value


def _independent_values(cfg: models.ModelConfig, variables: dict, x: np.ndarray, y: np.ndarray
                        ) -> dict[str, list[np.ndarray]]:
  """Each quantity recomputed from the model's own outputs, without the diagnostics' interceptor.

  weight from the params, preact/act from :func:`models.logits_and_intermediates`, grad_weight by
  ``jax.grad`` of the mean loss through ``model.apply``, grad_preact of the last two layers by hand:
  ``delta(L) = d loss_b / d logits_b`` and ``delta(L-1) = (delta(L) W_L^T) * phi'(z(L-1))``, ``z`` the
  sown value (after BatchNorm when it is on).
  """
  model = models.build(cfg)
  last = cfg.depth - 1
  train = cfg.batch_norm  # BatchNorm with the batch's statistics, as diagnose's default
  mutable = ["intermediates", "batch_stats"] if train else ["intermediates"]
  dphi = jnp.vectorize(jax.grad(activations.get(cfg.activation).fn))
  one = lambda z, t: models.per_example_loss(z[None], t[None])[0][0]

  @jax.jit  # one compile instead of dozens of eager ones
  def compute(variables: dict, x: jax.Array, y: jax.Array) -> dict[str, list[jax.Array]]:
    sown = model.apply(variables, x, train=train, mutable=mutable)[1]["intermediates"]
    sown = {k: v[0] for k, v in sown.items()}
    loss = lambda params: jnp.mean(models.per_example_loss(model.apply(
        {**variables, "params": params}, x, train=train, mutable=mutable)[0], y)[0])
    grads = jax.grad(loss)(variables["params"])
    d_out = jax.vmap(jax.grad(one))(sown[f"preact_{last}"], y)
    w_out = variables["params"][f"layer_{last}"]["kernel"]
    d_hidden = (d_out @ w_out.T) * dphi(sown[f"preact_{last - 1}"])
    return {"weight": [variables["params"][f"layer_{i}"]["kernel"] for i in range(cfg.depth)],
            "preact": [sown[f"preact_{i}"] for i in range(cfg.depth)],
            "act": [sown[f"act_{i}"] for i in range(cfg.depth - 1)],
            "grad_weight": [grads[f"layer_{i}"]["kernel"] for i in range(cfg.depth)],
            "grad_preact": [d_hidden, d_out]}

  return jax.device_get(compute(variables, jnp.asarray(x), jnp.asarray(y)))


MLP = models.ModelConfig(widths=(12, 6, 1), activation="tanh")
CASES = {
    "mlp_tanh": (MLP, X_MOONS, Y_MOONS),
    "cnn_relu_bn": (models.ModelConfig(kind="cnn", channels=(3,), widths=(5, 3), batch_norm=True),
                    np.random.default_rng(0).normal(size=(6, 8, 8, 1)).astype(np.float32),
                    np.array([0, 1, 2, 0, 1, 2])),
}
PAIR = pop.grid(["he_normal"], seeds=[3, 8])  # M = 2 for most tests: one compile per architecture
SCALED = pop.grid(["he_normal"], seeds=[3], scales=[0.1, 10.0])  # BatchNorm: any scale


@pytest.mark.parametrize("case", [  # the CNN's compile takes 15 s: -m slow (its BatchNorm
    "mlp_tanh", pytest.param("cnn_relu_bn", marks=pytest.mark.slow)])  # program is tested below)
def test_stats_equal_numpy_recomputation(case: str) -> None:
  """Every record of member 1 matches NumPy on the model's own values; each layer's bin edges span
  that layer's largest |value| over the members. The CNN has BatchNorm in train mode and kernels
  at 0.1 and 10 times He: every hidden layer is normalized anyway (per unit over the batch and
  positions: mean 0 and variance var / (var + 1e-5); pooled, |mean| < 1e-5 and std in [0.95, 1];
  at 0.01 times He the first layer's var is ~2e-5 and BatchNorm's 1e-5 takes a third of it). In
  eval mode the running statistics at init (0, 1) leave the raw convolution, 0.1 or 10 times the
  He scale."""
  cfg, x, y = CASES[case]
  members = SCALED if cfg.batch_norm else PAIR
  variables_M = pop.init_params(cfg, members, x.shape[1:])
  diag = measure.diagnose(cfg, members, variables_M, x, y)
  assert all(e.shape == (cfg.depth - (q == "act"), 51) and e.dtype == np.float32
             for q, e in diag.edges.items())
  assert diag.kernel_MLB.shape == (2, cfg.depth, x.shape[0])
  ref = _independent_values(cfg, _member(variables_M, 1), x, y)
  last = cfg.depth
  for q, vs in ref.items():
    layers = [last - 1, last] if q == "grad_preact" else range(1, len(vs) + 1)
    for layer, v in zip(layers, vs, strict=True):
      row = _record(diag, 1, layer, q)
      _check_stats(row, np.asarray(v), diag.edges[q][layer - 1])
      both = max(abs(_record(diag, k, layer, q)[f]) for k in (0, 1) for f in ("min", "max"))
      assert diag.edges[q][layer - 1][-1] == pytest.approx(both, rel=1e-6)
  for k in range(2):
    for layer in range(1, last):
      row = _record(diag, k, layer, "preact")
      assert not cfg.batch_norm or (abs(row["mean"]) < 1e-5 and 0.95 <= row["std"] <= 1.0), row
  if cfg.batch_norm:  # eval mode: the running statistics (0, 1) leave z / sqrt(1 + 1e-5)
    evaluated = measure.diagnose(cfg, members, variables_M, x, y, batch_norm="eval")
    for k in range(2):
      p = _member(variables_M, k)["params"]["layer_0"]
      z = np.asarray(_conv_same(x, np.asarray(p["kernel"]))) + np.asarray(p["bias"])
      raw = _record(evaluated, k, 1, "preact")
      assert raw["std"] == pytest.approx(z.std() / math.sqrt(1 + 1e-5), rel=1e-4)
    with pytest.raises(ValueError, match="unknown batch_norm='test'; accepted: train, eval"):
      measure.diagnose(cfg, members, variables_M, x, y, batch_norm="test")
  for layer in range(1, last + 1):
    z = np.asarray(ref["preact"][layer - 1], np.float64)
    row = _record(diag, 1, layer, "preact")
    np.testing.assert_allclose(row["kernel"], np.mean(z ** 2), rtol=1e-5)
    np.testing.assert_allclose(diag.kernel_MLB[1, layer - 1],
                               np.mean(z.reshape(len(z), -1) ** 2, axis=1), rtol=1e-5)
    g = np.asarray(ref["grad_weight"][layer - 1], np.float64)
    np.testing.assert_allclose(_record(diag, 1, layer, "grad_weight")["grad_norm"],
                               np.sqrt(np.sum(g ** 2)), rtol=1e-5)
  for layer, d in zip((last - 1, last), ref["grad_preact"], strict=True):
    d = np.asarray(d, np.float64)
    np.testing.assert_allclose(_record(diag, 1, layer, "grad_preact")["grad_norm"],
                               np.mean(np.sum(d.reshape(len(d), -1) ** 2, axis=1)), rtol=1e-5)
  for layer in range(1, last):
    row = _record(diag, 1, layer, "act")
    z = np.asarray(ref["preact"][layer - 1])
    if cfg.activation == "relu":  # a unit is a channel: never positive at any example or position
      expected = np.mean(np.all(z.reshape(-1, z.shape[-1]) <= 0, axis=0))
      assert row["dead_frac"] == pytest.approx(expected) and math.isnan(row["saturated_frac"])
    else:
      expected = np.mean(np.abs(np.tanh(z)) > 0.99)
      assert row["saturated_frac"] == pytest.approx(expected) and math.isnan(row["dead_frac"])


def test_records_schema_rows_and_histograms() -> None:
  """One row per member x layer x quantity with the same keys; histograms() is the records' data."""
  members = pop.grid(["he_normal"], seeds=[0], scales=[1.0, 2.0])
  diag = measure.diagnose(MLP, members, pop.init_params(MLP, members, (2,)), X_MOONS, Y_MOONS)
  assert len(diag.records) == 2 * (3 * 5 - 1)
  assert all(tuple(r) == measure.RECORD_FIELDS for r in diag.records)
  assert [r["scale"] for r in diag.records[::14]] == [1.0, 2.0]
  rows = measure.to_rows(diag)
  assert all("hist" not in r and len(r) == len(measure.RECORD_FIELDS) - 1 for r in rows)
  pre = _record(diag, 1, 1, "preact")
  assert math.isnan(pre["grad_norm"]) and math.isnan(pre["dead_frac"]) and pre["kernel"] > 0
  edges, counts_LB = measure.histograms(diag, 1, "act")
  assert counts_LB.shape == (2, 50) and edges.shape == (2, 51)
  assert counts_LB[1].tolist() == _record(diag, 1, 2, "act")["hist"]
  with pytest.raises(ValueError, match="unknown quantity 'acts'; known: weight"):
    measure.histograms(diag, 0, "acts")
  with pytest.raises(ValueError, match=r"member 9 .* accepted: 0\.\.1"):
    measure.histograms(diag, 9, "act")


def test_population_equals_each_member_alone() -> None:
  """Diagnosed together or one at a time (with the population's edges): the same records.

  Tolerance 1e-6 relative, or 1e-6 of the row's largest |value| (a mean near 0), and 1e-5 absolute
  for the kurtosis (m4 / m2^2 amplifies rounding): batched and unbatched matmuls round differently.
  For the same reason a value within rounding of a bin edge may fall in the neighbouring bin, or out
  of the range at its ends (the population's extreme value is an edge): the histograms differ by at
  most one value moved (L1 distance <= 2).
  """
  members = pop.grid(["he_normal"], seeds=[5], scales=[1.0, 3.0])
  together = measure.diagnose(MLP, members, pop.init_params(MLP, members, (2,)), X_MOONS,
                                  Y_MOONS)
  n = len(together.records) // len(members)
  for k, m in enumerate(members):
    alone = measure.diagnose(MLP, [m], pop.init_params(MLP, [m], (2,)), X_MOONS, Y_MOONS,
                                 edges=together.edges)
    for a, b in zip(alone.records, together.records[k * n:(k + 1) * n], strict=True):
      assert {f: a[f] for f in ("layer", "quantity", "scheme", "seed")} == {
          f: b[f] for f in ("layer", "quantity", "scheme", "seed")}
      ha, hb = np.asarray(a["hist"]), np.asarray(b["hist"])
      assert np.abs(ha - hb).sum() <= 2, (a["layer"], a["quantity"], ha - hb)
      scale = max(abs(b["min"]), abs(b["max"]))
      for f in (*measure.STATS, "kernel", "grad_norm", "saturated_frac"):
        np.testing.assert_allclose(a[f], b[f], rtol=1e-6,
                                   atol=1e-5 if f == "pooled_kurtosis" else 1e-6 * scale,
                                   err_msg=f)


@pytest.mark.slow
def test_relu_he_kernel_is_preserved_with_depth() -> None:
  r"""Wide relu MLP at He init: E[G(l) | G(l-1)] = G(l-1), so G(l)/G(1) averages to 1 over seeds.

  Slow: a claim of He et al. (2015) seen through the diagnostics; the kernel records themselves
  are checked against NumPy in the fast path (test_stats_equal_numpy_recomputation).

  Per layer step the ratio's relative variance is about 5/n (chi^2_n: 2/n; 2 sum relu(z)^2 /
  sum z^2: 3/n), so the mean over S seeds of G(l)/G(1) is within 3 sqrt(5 (l-1) / (n S)) of 1;
  G(1) is within 3 sqrt(2 / (n S)) of q(1) = 2 mean_b |x_b|^2 / D.
  """
  n, seeds, d = 512, 8, 64
  cfg = models.ModelConfig(widths=(n,) * 4 + (1,), activation="relu")
  members = pop.grid(["he_normal"], seeds=range(seeds))
  rng = np.random.default_rng(1)
  x = rng.normal(size=(16, d)).astype(np.float32)
  y = rng.integers(0, 2, size=16)
  diag = measure.diagnose(cfg, members, pop.init_params(cfg, members, (d,)), x, y)
  g_SL = np.array([[_record(diag, k, layer, "preact")["kernel"] for layer in range(1, 5)]
                   for k in range(seeds)])
  q1 = 2 * np.mean(np.sum(x.astype(np.float64) ** 2, axis=1)) / d
  assert abs(g_SL[:, 0].mean() / q1 - 1) < 3 * math.sqrt(2 / (n * seeds))
  for layer in range(2, 5):
    ratio = np.mean(g_SL[:, layer - 1] / g_SL[:, 0])
    assert abs(ratio - 1) < 3 * math.sqrt(5 * (layer - 1) / (n * seeds)), (layer, ratio)
  np.testing.assert_allclose(diag.kernel_MLB[:, :4].mean(axis=2), g_SL, rtol=1e-5)
  assert all(_record(diag, 0, layer, "act")["dead_frac"] < 0.1 for layer in range(1, 5))


RELU = models.ModelConfig(widths=(16, 16, 16, 1), activation="relu")


def test_zeros_init_has_no_weight_gradient() -> None:
  """All-zero relu MLP: every kernel gradient is 0 (relu(0) = 0); only the logits get a signal."""
  members = pop.grid(["zeros"], seeds=[0, 1])
  diag = measure.diagnose(RELU, members, pop.init_params(RELU, members, (2,)), X_MOONS, Y_MOONS)
  for r in diag.records:
    if r["quantity"] in ("weight", "grad_weight", "preact", "act"):
      assert r["min"] == r["max"] == 0.0 and math.isnan(r["pooled_kurtosis"]), r
      assert r["distinct"] == 1, r
    if r["quantity"] == "grad_weight" or (r["quantity"] == "grad_preact" and r["layer"] < 4):
      assert r["grad_norm"] == 0.0, r
  out = _record(diag, 1, 4, "grad_preact")
  assert out["grad_norm"] == pytest.approx(0.25)  # sigmoid(0) - y = -+1/2 for every example
  assert sum(_record(diag, 0, 1, "weight")["hist"]) == 2 * 16  # all zeros are counted (edges +-1)
  np.testing.assert_allclose(diag.edges["weight"][:, [0, -1]], [[-1.0, 1.0]] * 4)


def test_dead_relu_with_a_large_negative_bias() -> None:
  """bias constant(-10): every hidden relu unit is off for every example (dead_frac = 1)."""
  model = models.build(RELU, kernel_init=initializers.get("he_normal"),
                       bias_init=initializers.get("constant(-10)"))
  init = jax.jit(jax.vmap(lambda s: model.init(jax.random.key(s), jnp.zeros((1, 2)))))
  variables_M = init(jnp.arange(2))
  diag = measure.diagnose(RELU, PAIR, variables_M, X_MOONS, Y_MOONS)
  acts = [r for r in diag.records if r["quantity"] == "act"]
  assert len(acts) == 6 and all(r["dead_frac"] == 1.0 for r in acts)
  assert all(math.isnan(r["saturated_frac"]) for r in acts)
  alive = measure.diagnose(RELU, PAIR, pop.init_params(RELU, PAIR, (2,)), X_MOONS, Y_MOONS)
  assert all(r["dead_frac"] < 0.5 for r in alive.records if r["quantity"] == "act")


def test_saturated_frac_of_large_and_small_weights() -> None:
  """saturated_frac is the fraction of |tanh(z)| > 0.99, recomputed with NumPy from the model's own
  preactivations (to one entry of 768 or 384: float32 rounding at the threshold), on the MLP the
  other tests compile: member 0, normal(stddev=1) x scale 10, saturates most entries (measured 79%
  and 88% in the two hidden layers); member 1 (scale 0.1) none."""
  members = pop.grid(["normal(stddev=1)"], seeds=[0], scales=[10.0, 0.1])
  variables_M = pop.init_params(MLP, members, (2,))
  diag = measure.diagnose(MLP, members, variables_M, X_MOONS, Y_MOONS)
  _, sown = models.logits_and_intermediates(models.build(MLP), _member(variables_M, 0), X_MOONS)
  for layer in (1, 2):
    z = np.asarray(sown[f"preact_{layer - 1}"])
    saturated = np.mean(np.abs(np.tanh(z)) > 0.99)
    assert saturated > 0.75, (layer, saturated)
    row = _record(diag, 0, layer, "act")
    assert row["saturated_frac"] == pytest.approx(saturated, abs=1.01 / z.size), (layer, saturated)
    assert _record(diag, 1, layer, "act")["saturated_frac"] < 0.01


@pytest.mark.slow
def test_tanh_saturates_with_large_weights() -> None:
  """normal(stddev=10) kernels saturate tanh: > 90% of entries with |tanh| > 0.99 in deep layers.

  Member 0 is normal(stddev=1) x scale 10, i.e. normal(stddev=10); member 1 (scale 0.1) is calm.
  Slow: width 128 compiles its own program; test_saturated_frac_of_large_and_small_weights checks
  the statistic on the shared MLP.
  """
  cfg = models.ModelConfig(widths=(128, 128, 128, 1), activation="tanh")
  members = pop.grid(["normal(stddev=1)"], seeds=[0], scales=[10.0, 0.1])
  diag = measure.diagnose(cfg, members, pop.init_params(cfg, members, (2,)), X_MOONS, Y_MOONS)
  for layer in (2, 3):
    assert _record(diag, 0, layer, "act")["saturated_frac"] > 0.9
    assert _record(diag, 1, layer, "act")["saturated_frac"] < 0.01


def test_grad_preact_matches_an_independent_backward_pass() -> None:
  """delta(l) = d loss_b / d z_b(l): the network from z(l) on, rebuilt by hand and differentiated."""
  variables_M = pop.init_params(MLP, PAIR, (2,))
  diag = measure.diagnose(MLP, PAIR, variables_M, X_MOONS, Y_MOONS)

  @jax.jit
  def deltas(variables: dict, x: jax.Array, y: jax.Array) -> list[jax.Array]:
    p = variables["params"]
    _, sown = models.logits_and_intermediates(models.build(MLP), variables, x)

    def loss_from(z: jax.Array, t: jax.Array, start: int) -> jax.Array:
      for i in range(start + 1, 3):
        z = jnp.tanh(z) @ p[f"layer_{i}"]["kernel"] + p[f"layer_{i}"]["bias"]
      return models.per_example_loss(z[None], t[None])[0][0]

    return [jax.vmap(jax.grad(loss_from), in_axes=(0, 0, None))(sown[f"preact_{s}"], y, s)
            for s in (0, 1)]

  for k in range(2):
    for start, delta in enumerate(deltas(_member(variables_M, k), jnp.asarray(X_MOONS),
                                         jnp.asarray(Y_MOONS))):
      row = _record(diag, k, start + 1, "grad_preact")
      d = np.asarray(delta, np.float64)
      np.testing.assert_allclose([row["mean"], row["std"], row["min"], row["max"]],
                                 [d.mean(), d.std(), d.min(), d.max()], rtol=1e-4, atol=1e-7)
      np.testing.assert_allclose(row["grad_norm"], np.mean(np.sum(d ** 2, axis=1)), rtol=1e-4)


def test_jacobian_of_a_linear_network_is_the_kernel_product() -> None:
  """Linear MLP: d logits / d x = (W1 W2 W3)^T whatever the biases; the same singular values."""
  cfg = models.ModelConfig(widths=(5, 4, 3), activation="linear")
  members = pop.grid(["he_normal"], seeds=[0, 7])
  variables_M = pop.init_params(cfg, members, (6,))
  sv_MK = measure.jacobian_singular_values(cfg, variables_M, np.linspace(-1, 1, 6))
  assert sv_MK.shape == (2, 3)
  for k in range(2):
    p = _member(variables_M, k)["params"]
    prod = np.linalg.multi_dot([np.asarray(p[f"layer_{i}"]["kernel"], np.float64) for i in range(3)])
    np.testing.assert_allclose(sv_MK[k], np.linalg.svd(prod, compute_uv=False), rtol=1e-5, atol=1e-6)
  cnn, x, _ = CASES["cnn_relu_bn"]
  sv = measure.jacobian_singular_values(cnn, pop.init_params(cnn, PAIR, x.shape[1:]), x[0])
  assert sv.shape == (2, 3) and np.all(np.diff(sv, axis=1) <= 0)
  with pytest.raises(ValueError, match=r"one image of shape \(H, W, C\)"):
    measure.jacobian_singular_values(cnn, None, x[0].reshape(-1))


def test_second_call_with_other_members_and_data_does_not_recompile(compilations) -> None:
  """Members, seeds, schemes and data are arguments: a second call compiles nothing (JAX's log)."""
  first = pop.grid(["he_normal"], seeds=[0, 1])
  second = pop.grid(["he_normal"], seeds=[9, 4], scales=[0.5])
  x2, y2 = MOONS.x_test[:64], MOONS.y_test[:64]
  v1, v2 = pop.init_params(MLP, first, (2,)), pop.init_params(MLP, second, (2,))
  measure.diagnose(MLP, first, v1, X_MOONS, Y_MOONS)
  measure.jacobian_singular_values(MLP, v1, X_MOONS[0])
  with compilations() as log:
    diag = measure.diagnose(MLP, second, v2, x2, y2)
    measure.jacobian_singular_values(MLP, v2, x2[3])
  assert log == [], log
  assert (diag.records[0]["seed"], diag.records[0]["scale"]) == (9, 0.5)


def test_bad_inputs_raise() -> None:
  v = pop.init_params(MLP, PAIR, (2,))
  x, y = X_MOONS, Y_MOONS
  with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
    measure.diagnose(MLP, PAIR, v, x, y + 1)
  with pytest.raises(ValueError, match=r"y must be integer labels of shape \(B,\)"):
    measure.diagnose(MLP, PAIR, v, x, y[:5])
  with pytest.raises(ValueError, match=r"every leaf of shape \(M=1, \.\.\.\)"):
    measure.diagnose(MLP, PAIR[:1], v, x, y)
  with pytest.raises(ValueError, match="unknown quantity 'weights'"):
    measure.diagnose(MLP, PAIR, v, x, y, edges={"weights": np.linspace(-1, 1, 5)})
  with pytest.raises(ValueError, match="strictly increasing"):
    measure.diagnose(MLP, PAIR, v, x, y, edges={"act": np.array([1.0, 0.0])})
  with pytest.raises(ValueError, match="bins must be an int >= 1"):
    measure.diagnose(MLP, PAIR, v, x, y, bins=0)
  with pytest.raises(ValueError, match="population is empty"):
    measure.diagnose(MLP, [], v, x, y)


def test_a_diverged_member_is_reported_not_fatal() -> None:
  """A NaN in one member's kernel: its statistics are NaN, its histograms skip the NaN, the edges
  stay finite, and the other member's statistics are unchanged."""
  clean = pop.init_params(MLP, PAIR, (2,))
  broken = jax.tree.map(lambda a: a, clean)
  broken["params"]["layer_1"]["kernel"] = clean["params"]["layer_1"]["kernel"].at[1, 0, 0].set(jnp.nan)
  ref = measure.diagnose(MLP, PAIR, clean, X_MOONS, Y_MOONS)
  diag = measure.diagnose(MLP, PAIR, broken, X_MOONS, Y_MOONS)
  assert all(np.all(np.isfinite(e)) for e in diag.edges.values())
  w = _record(diag, 1, 2, "weight")
  assert math.isnan(w["mean"]) and sum(w["hist"]) == 12 * 6 - 1
  assert sum(_record(diag, 1, 2, "preact")["hist"]) == 64 * (6 - 1)  # one unit is NaN throughout
  for a, b in zip(diag.records[:14], ref.records[:14], strict=True):
    assert [a[f] for f in measure.STATS] == [b[f] for f in measure.STATS]


def test_shared_ranges_and_distinct_values() -> None:
  """ranges="shared": every layer's edges are linspace(-r, r), r the largest |value| over all
  layers; the counts are the same values' (each histogram still counts every entry).

  Weights and biases constant(0.005) (the constant-initialization text): every unit of a layer
  computes the same thing, so the kernel gradient has one distinct value in the hidden layer 2
  (equal inputs, equal units), one per input feature in layer 1 and one per output in the
  readout (here one); He breaks the symmetry. One program serves both (the moons MLP, M = 2).
  """
  variables_M = pop.init_params(MLP, PAIR, (2,))
  own = measure.diagnose(MLP, PAIR, variables_M, X_MOONS, Y_MOONS)
  shared = measure.diagnose(MLP, PAIR, variables_M, X_MOONS, Y_MOONS, ranges="shared")
  for q in measure.QUANTITIES:
    r = np.max(np.abs(own.edges[q]))
    np.testing.assert_allclose(shared.edges[q], np.broadcast_to(np.linspace(-r, r, 51),
                                                                own.edges[q].shape),
                               rtol=1e-6, atol=1e-6 * r)
    assert len({tuple(e) for e in own.edges[q]}) == len(own.edges[q])  # layers differ
  for a, b in zip(own.records, shared.records, strict=True):
    assert sum(a["hist"]) == sum(b["hist"]) and a["std"] == b["std"]
  with pytest.raises(ValueError, match="unknown ranges='global'; accepted: layer, shared"):
    measure.diagnose(MLP, PAIR, variables_M, X_MOONS, Y_MOONS, ranges="global")
  members = pop.grid(["layers(constant(0.005), bias=constant(0.005))", "he_normal"], seeds=[0])
  diag = measure.diagnose(MLP, members, pop.init_params(MLP, members, (2,)), X_MOONS, Y_MOONS)
  constant = [_record(diag, 0, layer, "grad_weight")["distinct"] for layer in (1, 2, 3)]
  assert constant == [2, 1, 1]  # 2 input features; the readout has one output
  assert all(_record(diag, 0, layer, "weight")["distinct"] == 1 for layer in (1, 2, 3))
  assert [_record(diag, 1, layer, "grad_weight")["distinct"] for layer in (1, 2, 3)] == [
      2 * 12, 12 * 6, 6]


@pytest.mark.parametrize(("width", "depth", "networks"), [
    (32, 5, 2048), pytest.param(64, 10, 4096, marks=pytest.mark.slow)])  # slow: the size
def test_ensemble_fourth_moment_ratio_is_the_finite_width_prediction(width, depth,
                                                                     networks) -> None:
  """ReLU at criticality (He: C_W = 2, C_b = 0), thousands of networks at one fixed input:
  E z^4 / E[z^2]^2 within 3 standard errors of finite_width.fourth_moment_ratio (exact at any
  width) at every layer, Gaussian (3) at layer 1, growing with depth."""
  from jaxinit.theory import finite_width

  cfg = models.ModelConfig(widths=(width,) * depth, activation="relu")
  model = models.build(cfg, kernel_init=initializers.get("he_normal"))
  init = jax.jit(jax.vmap(lambda s: model.init(jax.random.key(s), jnp.zeros((1, 16)))))
  x = np.random.default_rng(0).normal(size=(16,)).astype(np.float32)
  ens = measure.ensemble_moments(cfg, init(jnp.arange(networks)), x)
  theory = finite_width.fourth_moment_ratio("relu", [width] * depth)
  assert ens.networks == networks and ens.ratio_L.shape == (depth,)
  assert np.all(np.abs(ens.ratio_L - theory) < 3 * ens.ratio_se_L), (ens.ratio_L, theory,
                                                                      ens.ratio_se_L)
  assert ens.ratio_L[-1] - 3 > 10 * ens.ratio_se_L[-1]  # the 1/n effect is resolved, not noise
  np.testing.assert_allclose(ens.second_L, 2 * np.mean(x.astype(np.float64) ** 2), rtol=0.1)
