"""Tests of the population trainer: vmapped == one by one, independence, one compile, divergence.

Tolerances: trained parameters of a member alone and in a population agree to float32 rounding, not
bit for bit (batched and unbatched matmuls round differently; measured here: <= 2.4e-7 after 60 SGD
steps on moons). We assert 1e-5 on parameters and metrics after 2-5 epochs.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import pytest

from jaxinit import data
from jaxinit.engine import placement
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models

MOONS = tr.device_data(data.moons(0))
MLP = models.ModelConfig()  # 2-12-6-1, relu
ATOL = 1e-5


def final(model_cfg: models.ModelConfig, cfg: tr.TrainConfig, members: list, d: tr.DeviceData = MOONS
          ) -> tuple[tr.TrainState, np.ndarray]:
  """The final stacked state (on the host) and the metrics of every epoch, ``(E, M, 4)``."""
  out = [(s, m) for _, s, m in tr.run(model_cfg, cfg, members, d)]
  return jax.tree.map(np.asarray, out[-1][0]), np.stack([m for _, m in out])


def assert_member_close(state: tr.TrainState, k: int, other: tr.TrainState, j: int | None) -> None:
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(other.params), strict=True):
    np.testing.assert_allclose(a[k], b if j is None else b[j], atol=ATOL, rtol=0)


MIXED = [pop.Member("he_normal", 0, 0.1), pop.Member("glorot_uniform", 3, 0.05, 0.5, 2.0),
         pop.Member("orthogonal", 1, 0.2, 0.0), pop.Member("normal(stddev=0.3)", 7, 0.02),
         pop.Member("lecun_normal", 4, 0.03, 0.95, 0.5), pop.Member("he_uniform", 11, 0.1, 0.8),
         pop.Member("xavier_normal", 2, 0.15), pop.Member("truncated_normal(stddev=0.5)", 5, 0.07)]


@pytest.mark.parametrize("shuffle, batch_norm", [  # the fast suite: the default (shared) order
    ("shared", False), pytest.param("member", True, marks=pytest.mark.slow)])
def test_vmapped_equals_one_by_one(shuffle: str, batch_norm: bool) -> None:
  """Mixed schemes, seeds, lrs, momenta and scales together == each trained alone: the odd members
  of MIXED with a shared order, the even ones with BatchNorm and per-member order (each member
  alone costs its own compiles, so each variant takes half)."""
  model_cfg = models.ModelConfig(batch_norm=batch_norm)
  cfg = tr.TrainConfig(epochs=2, batch_size=32, shuffle=shuffle)
  members = MIXED[::2] if batch_norm else MIXED[1::2]
  state, metrics = final(model_cfg, cfg, members)
  assert metrics.shape == (2, len(members), 4) and np.all(np.isfinite(metrics))
  for k, member in enumerate(members):
    alone, alone_metrics = tr.train_one(model_cfg, cfg, member, MOONS)
    assert_member_close(state, k, jax.tree.map(np.asarray, alone), None)
    np.testing.assert_allclose(metrics[:, k], alone_metrics, atol=ATOL, rtol=0)
    if batch_norm:
      for a, b in zip(jax.tree.leaves(state.model_state), jax.tree.leaves(alone.model_state),
                      strict=True):
        np.testing.assert_allclose(a[k], b, atol=ATOL, rtol=1e-5)
  # Training did something: the members' mean train loss fell (by 9% and 18%).
  assert metrics[-1, :, 0].mean() < 0.95 * metrics[0, :, 0].mean()


@pytest.mark.slow  # implied, to the same tolerance, by test_vmapped_equals_one_by_one[shared]
def test_member_result_does_not_depend_on_the_others() -> None:
  cfg = tr.TrainConfig(epochs=4, batch_size=40)
  big = pop.grid(["he_normal", "glorot_uniform"], range(4), lrs=(0.1, 0.05))
  small = [big[13], pop.Member("zeros", 9), big[2], pop.Member("orthogonal", 2, 0.3)]
  s_big, m_big = final(MLP, cfg, list(big))
  s_small, m_small = final(MLP, cfg, small)
  for k_big, k_small in ((13, 0), (2, 2)):
    assert_member_close(s_big, k_big, s_small, k_small)
    np.testing.assert_allclose(m_big[:, k_big], m_small[:, k_small], atol=ATOL, rtol=0)


def test_second_sweep_does_not_recompile(compilations) -> None:
  """Other seeds, schemes, scales, lrs, momenta, epochs and data values, and another population size
  in the same size bucket: JAX's compile log shows no new program (init included)."""
  cfg = tr.TrainConfig(epochs=2, batch_size=50, order_seed=3)
  first = pop.grid(["he_normal", "zeros"], [0, 1, 2], lrs=(0.1,), scales=(1.0,))
  second = pop.grid(["he_normal", "zeros"], [7, 8, 9, 10], lrs=(0.01,), momenta=(0.5,),
                    scales=(2.0,))[:7]  # 7 members (4 + 3): bucket 7 != 6, so a compile...
  final(MLP, cfg, list(first))
  assert placement.bucket(len(first)) == 6 and placement.bucket(19) == placement.bucket(20) == 20
  big = pop.grid(["he_normal", "zeros"], range(10), lrs=(0.1,))  # 20 members, 10 per scheme
  bigger = pop.grid(["he_normal", "zeros"], range(20, 30), lrs=(0.05,), momenta=(0.5,),
                    scales=(2.0,))[:19]  # 19 members: 10 + 9 per scheme, the same buckets
  final(MLP, cfg, list(big))
  other_data = tr.device_data(data.moons(seed=5))
  with compilations() as log:
    _, metrics = final(MLP, dataclasses.replace(cfg, epochs=3), list(bigger), other_data)
  assert metrics.shape == (3, 19, 4) and np.all(np.isfinite(metrics))
  assert log == [], log
  with compilations() as log:  # ...which the log sees: it is not blind
    final(MLP, cfg, list(second))
  assert log, "a new population size bucket must compile"


def test_divergence_is_marked_frozen_and_harmless() -> None:
  cfg = tr.TrainConfig(epochs=4, batch_size=32)
  good = [pop.Member("he_normal", 0, 0.1), pop.Member("glorot_normal", 1, 0.05)]
  bad = pop.Member("normal(stddev=1.0)", 2, 1e10)
  state, metrics = final(MLP, cfg, [good[0], bad, good[1]])
  ref_state, ref_metrics = final(MLP, cfg, good)
  de = int(state.diverged_epoch[1])
  assert 1 <= de <= 4 and not state.alive[1]
  assert np.all(np.isnan(metrics[de - 1:, 1])) and np.all(np.isfinite(metrics[:de - 1, 1]))
  # Frozen at its last finite state.
  assert all(np.all(np.isfinite(x[1])) for x in jax.tree.leaves(state.params))
  # The others carry on as if it were not there.
  assert list(state.diverged_epoch[[0, 2]]) == [0, 0]
  for k, j in ((0, 0), (2, 1)):
    assert_member_close(state, k, ref_state, j)
    np.testing.assert_allclose(metrics[:, k], ref_metrics[:, j], atol=ATOL, rtol=0)


def test_zeros_init_on_moons_is_chance_and_he_beats_it() -> None:
  """The tutorial's table: zeros gives exactly 50% and a constant loss ln 2; He learns the moons."""
  cfg = tr.TrainConfig(epochs=150, batch_size=None)
  members = pop.grid(["zeros", "he_normal"], range(16))
  _, metrics = final(MLP, cfg, list(members))
  zeros, he = metrics[:, :16], metrics[:, 16:]
  np.testing.assert_allclose(zeros[..., [0, 2]], math.log(2), rtol=0, atol=1e-6)
  np.testing.assert_array_equal(zeros[..., [1, 3]], 0.5)
  # Paired by seed: He beats chance on every seed, and by a wide margin on average.
  assert np.all(he[-1, :, 3] > 0.8) and he[-1, :, 3].mean() > 0.9
  assert np.all(he[-1, :, 0] < 0.5 * math.log(2))


def test_multiclass_loss_and_accuracy_on_a_tiny_mnist_like_set() -> None:
  """Softmax cross-entropy at init is ~ln(10) for small logits; accuracy is a fraction of 1."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(64, 28, 28, 1)).astype(np.float32)
  y = rng.integers(0, 10, 64).astype(np.int32)
  d = tr.DeviceData(*(jax.numpy.asarray(a) for a in (x, y, x[:32], y[:32])))
  cfg_model = models.ModelConfig(kind="cnn", channels=(2,), widths=(10,))
  cfg = tr.TrainConfig(epochs=1, batch_size=16, eval_batch_size=20)  # 64 = 3 full chunks + 4
  members = [pop.Member("normal(stddev=0.001)", 0, 1e-9)]
  _, metrics = final(cfg_model, cfg, members, d)
  np.testing.assert_allclose(metrics[0, 0, [0, 2]], math.log(10), rtol=1e-3)
  acc = metrics[0, 0, 1] * 64
  assert abs(acc - round(acc)) < 1e-4  # a count of correct examples over 64


def test_epoch_metrics_are_the_whole_set_evaluated_at_once() -> None:
  """The chunked evaluation (full chunks, then the remainder: 400 train = 25 chunks of 16, 200
  test = 12 chunks + 8) gives the loss and accuracy of one forward pass over the whole set with
  the state after the epoch."""
  cfg = tr.TrainConfig(epochs=1, batch_size=50, eval_batch_size=16)
  members = [pop.Member("he_normal", 0), pop.Member("glorot_uniform", 1, 0.05)]
  state, metrics = final(MLP, cfg, members)
  model = models.build(MLP)
  for k in range(2):
    variables = jax.tree.map(lambda x, k=k: x[k], {"params": state.params})
    for j, (x, y) in enumerate(((MOONS.x_train, MOONS.y_train), (MOONS.x_test, MOONS.y_test))):
      loss, correct = models.per_example_loss(model.apply(variables, x), y)
      np.testing.assert_allclose(metrics[0, k, 2 * j], np.mean(loss), rtol=2e-6)
      np.testing.assert_allclose(metrics[0, k, 2 * j + 1], np.sum(correct) / len(y), rtol=1e-7)


def test_mse_is_half_the_squared_error_on_one_hot_targets() -> None:
  """Three classes: 0.5 sum_k (f_k - e_y,k)^2; one logit: target 2y - 1. Correctness as for the
  cross-entropy (argmax; logit sign)."""
  logits = jax.numpy.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
  loss, correct = models.per_example_loss(logits, jax.numpy.array([0, 1]), "mse")
  np.testing.assert_allclose(loss, [0.5 * (1 + 1 + 0.25), 0.5 * (0.01 + 0.64 + 0.09)], rtol=1e-6)
  assert correct.tolist() == [True, False]
  loss, correct = models.per_example_loss(jax.numpy.array([[0.5], [0.5]]), jax.numpy.array([1, 0]),
                                          "mse")
  np.testing.assert_allclose(loss, [0.125, 1.125], rtol=1e-6)
  assert correct.tolist() == [True, False]


def test_mse_and_a_cosine_schedule_are_what_full_batch_sgd_applies() -> None:
  """loss="mse", schedule="cosine", plain full-batch SGD, 2 epochs = 2 steps: the parameters are
  p1 = p0 - lr g(p0) and p2 = p1 - lr cos-factor(1) g(p1), factor 0.5 (so the loss is trained on,
  and the schedule spans the run); the recorded losses are the MSE of the trained parameters; and
  a run resumed after epoch 1 ends with the same parameters (the schedule continues)."""
  member = pop.Member("he_normal", 4, 0.5)
  cfg = tr.TrainConfig(epochs=2, batch_size=None, optimizer="sgd", schedule="cosine", loss="mse")
  runs = [(jax.tree.map(np.asarray, s), m) for _, s, m in tr.run(MLP, cfg, [member], MOONS)]
  model = models.build(MLP)

  def mse(params, x, y):
    return jax.numpy.mean(models.per_example_loss(model.apply({"params": params}, x), y, "mse")[0])

  p = jax.tree.map(lambda a: a[0], pop.init_params(MLP, [member], (2,))["params"])
  for factor in (1.0, 0.5):
    p = jax.tree.map(lambda a, g, f=factor: a - 0.5 * f * g, p,
                     jax.grad(mse)(p, MOONS.x_train, MOONS.y_train))
  trained = jax.tree.map(lambda a: a[0], runs[-1][0].params)
  for a, b in zip(jax.tree.leaves(trained), jax.tree.leaves(p), strict=True):
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-5)
  np.testing.assert_allclose(runs[-1][1][0, [0, 2]], [mse(trained, MOONS.x_train, MOONS.y_train),
                                                      mse(trained, MOONS.x_test, MOONS.y_test)],
                             rtol=2e-6)
  *_, (_, resumed, _) = tr.run(MLP, cfg, [member], MOONS, state=runs[0][0], start_epoch=1)
  for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(runs[-1][0].params), strict=True):
    np.testing.assert_array_equal(np.asarray(a), b)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, r"epochs must be an int in \[1, 2\^31\)"),
    ({"batch_size": 0}, "batch_size must be"),
    ({"batch_size": 2.5}, "batch_size must be"),
    ({"shuffle": "random"}, "unknown shuffle"),
    ({"loss": "hinge"}, "unknown loss 'hinge'; accepted: cross_entropy, mse"),
    ({"order_seed": -1}, "order_seed"),
])
def test_train_config_rejects_bad_values(kwargs: dict, match: str) -> None:
  with pytest.raises(ValueError, match=match):
    tr.TrainConfig(**kwargs)


def test_data_that_does_not_fit_the_model_is_an_error() -> None:
  members = [pop.Member("he_normal", 0)]
  with pytest.raises(ValueError, match="larger than the training set"):
    next(tr.run(MLP, tr.TrainConfig(batch_size=401), members, MOONS))
  multi = tr.DeviceData(MOONS.x_train, MOONS.y_train * 3, MOONS.x_test, MOONS.y_test)
  with pytest.raises(ValueError, match="labels go up to 3"):
    next(tr.run(MLP, tr.TrainConfig(), members, multi))


def test_precision_is_in_the_compiled_epoch_and_checked() -> None:
  """--precision reaches every matmul of the epoch program: HIGHEST for "highest", the default
  (bf16 passes on GPUs) for "bf16"; an unknown name is an error listing the accepted ones."""
  model_cfg = models.ModelConfig(widths=(8, 1))
  members = pop.grid(["he_normal"], seeds=[0, 1])
  moons = tr.device_data(data.load("moons"))
  texts = {}
  for precision in ("highest", "bf16"):
    cfg = tr.TrainConfig(epochs=1, batch_size=100, precision=precision)
    state = tr.init_state(model_cfg, cfg, members, moons.x_train)
    seeds = jax.numpy.asarray([0, 1], jax.numpy.uint32)
    program = tr.programs(model_cfg, cfg).population_block
    one = jax.numpy.int32(1)
    texts[precision] = program.lower(state, seeds, moons, one, one).as_text()
  dots = [line for line in texts["highest"].splitlines() if "dot_general" in line]
  assert dots and all("HIGHEST" in line for line in dots)
  assert "HIGHEST" not in texts["bf16"]
  with pytest.raises(ValueError, match="unknown precision 'fp8'; accepted: highest, tf32, bf16"):
    tr.TrainConfig(precision="fp8")


def _bf16_and_float32_runs(epochs: int) -> dict[str, np.ndarray]:
  """Final metrics of 8 he_normal members on moons, full batch, in float32 and in bf16."""
  moons = tr.device_data(data.load("moons"))
  members = pop.grid(["he_normal"], seeds=range(8))
  final = {}
  for precision in ("highest", "bf16"):
    cfg = tr.TrainConfig(epochs=epochs, batch_size=None, precision=precision)
    *_, (_, state, metrics) = tr.run(models.ModelConfig(), cfg, members, moons)
    assert all(leaf.dtype == jax.numpy.float32 for leaf in jax.tree.leaves(state.params))
    final[precision] = np.asarray(metrics)
  return final


def test_bf16_model_computes_in_bfloat16_with_float32_parameters() -> None:
  """The model built for precision="bf16" computes in bfloat16 (its activations are bfloat16)
  while its parameters are float32 (training keeps them so: the slow test below)."""
  model = models.build(models.ModelConfig(), dtype=jax.numpy.bfloat16)
  x = jax.numpy.ones((4, 2))
  variables = model.init(jax.random.key(0), x)
  _, inter = models.logits_and_intermediates(model, variables, x)
  assert inter["act_0"].dtype == jax.numpy.bfloat16
  assert variables["params"]["layer_0"]["kernel"].dtype == jax.numpy.float32


@pytest.mark.slow
def test_bf16_mixed_precision_keeps_float32_parameters_and_close_accuracy() -> None:
  """On moons (8 he_normal members, 100 full-batch epochs) precision="bf16" keeps the parameters,
  optimizer state and loss float32, is not the float32 run, and every member's final accuracy is
  within 2 points of it."""
  final = _bf16_and_float32_runs(epochs=100)
  assert not np.array_equal(final["highest"], final["bf16"])
  np.testing.assert_allclose(final["bf16"][:, [1, 3]], final["highest"][:, [1, 3]], atol=0.02)
