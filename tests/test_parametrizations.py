"""Tests of the parametrizations: names, the exact width powers, base-width identity with SP, the
wiring of init factors, multipliers and per-layer learning rates into the trainer, and the two
forms of muP training identically.

Tolerances: at the base width every factor is exactly 1, so the programs and results are SP's bit
for bit. At other widths the factors are exact powers of 2 (m = 4) and checked exactly. The
multiplier form (``mean_field``) and the init form (``mup``) differ in float rounding and in Adam's
epsilon, which the abc-symmetry does not carry (a multiplier alpha turns eps into eps / alpha): with
eps = 1e-20 their losses agree to 1e-5 relative over 20 steps (measured: 1.2e-7 with SGD + momentum,
6e-7 with Adam); with Adam's default eps = 1e-8 they drift apart by 1e-3 relative in 20 steps.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxinit.engine import optimizers
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.nets import parametrizations as pz

BASE, WIDTH = 16, 64  # m = 4
WIDTHS = (WIDTH, WIDTH, WIDTH, 4)  # three hidden layers, the depth of the mup_transfer MLP
SCALED = ("ntk", "mup", "mean_field")


def _data(n: int = 128, d: int = 8, classes: int = 4) -> tr.DeviceData:
  rng = np.random.default_rng(0)
  x = rng.standard_normal((n, d)).astype(np.float32)
  y = (x[:, :classes].argmax(1)).astype(np.int32)
  return tr.DeviceData(jnp.asarray(x), jnp.asarray(y), jnp.asarray(x[:32]), jnp.asarray(y[:32]))


DATA = _data()


def _model(parametrization: str, widths: tuple[int, ...] = WIDTHS) -> models.ModelConfig:
  return models.ModelConfig(widths=widths, parametrization=parametrization)


def _trained(model_cfg: models.ModelConfig, optimizer: str, steps: int, members: list[pop.Member]
             ) -> tuple[dict, np.ndarray]:
  """The params after ``steps`` full-batch steps (host arrays ``(M, ...)``) and the train loss after
  each step, ``(steps, M)``."""
  cfg = tr.TrainConfig(epochs=steps, batch_size=None, optimizer=optimizer)
  losses, params = [], None
  for _, state, metrics in tr.run(model_cfg, cfg, members, DATA):
    losses.append(metrics[:, 0])
    params = jax.tree.map(lambda x: np.asarray(x)[:len(members)], state.params)
  return params, np.stack(losses)


def test_names_round_trip_and_errors() -> None:
  for name in ("sp", "ntk(base_width=64)", "mup(base_width=128)", "mean_field(base_width=1)"):
    assert pz.get(name).name == name and pz.get(pz.get(name).name) == pz.get(name)
  assert pz.get("standard").name == "sp" and pz.get("mf(base_width=8)").kind == "mean_field"
  with pytest.raises(ValueError, match=r"unknown parametrization 'mu'.*known: mean_field, mup, ntk, sp"):
    pz.get("mu")
  with pytest.raises(ValueError, match=r"needs the width.*mup\(base_width=64\)"):
    pz.get("mup")
  with pytest.raises(ValueError, match="base_width=0 is out of range"):
    pz.get("ntk(base_width=0)")
  with pytest.raises(ValueError, match="equal hidden widths"):
    _model("mup(base_width=16)", (64, 32, 10))
  with pytest.raises(ValueError, match="for 'mlp' and 'resmlp'"):
    models.ModelConfig(kind="cnn", channels=(4,), widths=(8, 10), parametrization="mup(base_width=4)")
  assert _model("mu_p(base_width=16)").parametrization == "mup(base_width=16)"


def _tp5_table3(role: str, adaptive: bool, m: float) -> tuple[float, float]:
  """muP's effective (std of W relative to SP's at this width, lr of W relative to eta), written out
  from Tensor Programs V's Table 3 in fans: input weights and biases (fan_out = n, fan_in fixed),
  hidden weights (fan_in = fan_out = n), output weights (fan_in = n). SP's std is
  1/sqrt(fan_in), so var 1/fan_in^2 is std (1/sqrt(fan_in)) * 1/sqrt(fan_in), relative m^-1/2."""
  if role in ("input", "bias"):
    return 1.0, 1.0 if adaptive else m            # lr: eta (Adam), eta * fan_out (SGD)
  if role == "hidden":
    return 1.0, 1 / m if adaptive else 1.0        # lr: eta / fan_in (Adam), eta (SGD)
  return m ** -0.5, 1 / m                         # output: var 1/fan_in^2; lr eta / fan_in (both)


@pytest.mark.parametrize("adaptive", [False, True])
def test_effective_scales_equal_the_papers_tables(adaptive: bool) -> None:
  """The effective kernel W = alpha w: its std relative to SP is alpha * init, its learning rate
  alpha^2 * lr (SGD) or alpha * lr (Adam, scale-invariant). muP and mean-field both give Table 3
  of Tensor Programs V; NTK gives SP's init with W's SGD lr / fan_in (relative m^-1) on the layers
  with fan_in n (Jacot et al. 2018), and Adam learning rates that move each layer as SGD does
  (tests/test_coordcheck.py measures it)."""
  m = WIDTH / BASE
  roles = pz.layer_roles(len(WIDTHS))
  power = 1 if adaptive else 2
  for kind in SCALED:
    scales = pz.layer_scales(f"{kind}(base_width={BASE})", WIDTHS, adaptive=adaptive)
    for i, (role, s) in enumerate(zip(roles, scales, strict=True)):
      std, lr = s.multiplier * s.init, s.multiplier ** power * s.lr_kernel
      if kind == "ntk":  # SGD: W's lr / fan_in where fan_in is n. Adam: steps of entry size lr,
        # summed over fan_in inputs, must move inputs and features by n^-1/2 and the output by 1.
        want_lr = ({"input": m ** -0.5, "hidden": m ** -1.5, "output": 1 / m} if adaptive
                   else {"input": 1.0, "hidden": 1 / m, "output": 1 / m})[role]
        assert (std, lr) == (1.0, want_lr), (kind, role)
      else:
        assert (std, lr) == _tp5_table3(role, adaptive, m), (kind, role)
      if i == len(WIDTHS) - 1:
        want_bias = 1.0
      elif kind == "ntk":
        want_bias = m ** -0.5 if adaptive else 1.0
      else:
        want_bias = _tp5_table3("bias", adaptive, m)[1]
      assert s.lr_bias == want_bias, (kind, role)
  # The multiplier form keeps every trained weight at its base-width size (mean_field's init
  # factor undoes SP's 1/sqrt(fan_in) shrinking exactly where the multiplier takes it over).
  mf = pz.layer_scales(f"mean_field(base_width={BASE})", WIDTHS)
  assert [s.init for s in mf] == [1.0, 2.0, 2.0, 2.0] and [s.multiplier for s in mf] == [1, .5, .5, .25]


@pytest.mark.parametrize("optimizer, kinds", [  # the fast suite trains one (each is a compile)
    ("adam", ("mup",)), pytest.param("momentum", SCALED, marks=pytest.mark.slow),
    pytest.param("adam", ("ntk", "mean_field"), marks=pytest.mark.slow)])
def test_at_the_base_width_every_parametrization_is_sp(optimizer: str, kinds: tuple) -> None:
  """Same initial parameters and the same first steps, bit for bit (every factor is exactly 1)."""
  members = [pop.Member("he_normal", s, lr=0.05) for s in (0, 1)]
  widths = (BASE, BASE, BASE, 4)
  sp_init = pop.init_params(_model("sp", widths), members, (8,))
  sp_params, sp_losses = _trained(_model("sp", widths), optimizer, 3, members)
  for kind in SCALED:
    cfg = _model(f"{kind}(base_width={BASE})", widths)
    assert models.build(cfg).multipliers is None
    assert set(cfg.layer_scales(adaptive=True) + cfg.layer_scales()) == {pz.LayerScale()}
    init = pop.init_params(cfg, members, (8,))
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(sp_init), strict=True):
      np.testing.assert_array_equal(a, b)
    if kind not in kinds:
      continue
    params, losses = _trained(cfg, optimizer, 3, members)
    np.testing.assert_array_equal(losses, sp_losses)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(sp_params), strict=True):
      np.testing.assert_array_equal(a, b)


def test_init_factors_and_multipliers_reach_the_model() -> None:
  """At m = 4: each kernel is SP's draw (same seed) times m^init exactly, and the forward pass is
  SP's with each kernel times its multiplier."""
  members = [pop.Member("he_normal", 3)]
  sp = pop.init_params(_model("sp"), members, (8,))
  x = np.asarray(DATA.x_train[:16])
  for kind in SCALED:
    cfg = _model(f"{kind}(base_width={BASE})")
    params = pop.init_params(cfg, members, (8,))["params"]
    scales = cfg.layer_scales()
    effective = {}
    for i, s in enumerate(scales):
      layer = params[f"layer_{i}"]
      drawn = sp["params"][f"layer_{i}"]
      np.testing.assert_array_equal(layer["kernel"], drawn["kernel"] * np.float32(s.init))
      np.testing.assert_array_equal(layer["bias"], drawn["bias"])
      effective[f"layer_{i}"] = {"kernel": layer["kernel"][0] * s.multiplier, "bias": layer["bias"][0]}
    one = jax.tree.map(lambda v: v[0], params)
    out = models.build(cfg).apply({"params": one}, x)
    want = models.build(_model("sp")).apply({"params": effective}, x)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer, adaptive", [("sgd", False), ("adam", True)])
def test_the_trainer_applies_each_layers_learning_rate(optimizer: str, adaptive: bool) -> None:
  """One full-batch step from the same parameters: layer i's change is -lr * f_i * g (SGD) or
  -lr * f_i * g / (|g| + eps) (Adam's first step) with f_i the table's factor, g the gradient of
  the parametrized model."""
  lr = 0.01
  members = [pop.Member("he_normal", 0, lr=lr)]
  cfg = _model(f"mup(base_width={BASE})")
  init = jax.tree.map(lambda v: v[0], pop.init_params(cfg, members, (8,))["params"])
  model = models.build(cfg)

  def loss(p: dict) -> jax.Array:
    return jnp.mean(models.per_example_loss(model.apply({"params": p}, DATA.x_train),
                                            DATA.y_train)[0])

  grads = jax.grad(loss)(init)
  after, _ = _trained(cfg, optimizer, 1, members)
  for i, s in enumerate(cfg.layer_scales(adaptive)):
    for leaf, f in (("kernel", s.lr_kernel), ("bias", s.lr_bias)):
      g = np.asarray(grads[f"layer_{i}"][leaf])
      step = np.asarray(after[f"layer_{i}"][leaf][0]) - np.asarray(init[f"layer_{i}"][leaf])
      want = -lr * f * (g / (np.abs(g) + 1e-8) if adaptive else g)
      ulp = np.max(np.spacing(np.abs(np.asarray(init[f"layer_{i}"][leaf]))))  # step = after - init
      np.testing.assert_allclose(step, want, rtol=2e-3, atol=2 * ulp, err_msg=f"layer {i} {leaf}")
  assert {s.lr_kernel for s in cfg.layer_scales(adaptive)} != {1.0}  # the check above could fail


@pytest.mark.parametrize("optimizer", [  # the fast suite: Adam, where the forms differ most
    pytest.param("momentum", marks=pytest.mark.slow), "adam(eps=1e-20)"])
def test_multiplier_form_and_init_form_of_mup_train_identically(optimizer: str) -> None:
  """mean_field (multipliers, base-size weights) and mup (no multipliers, Table 3) at m = 4: the same
  losses over 20 steps and the same effective kernels alpha * w, while their stored weights differ
  by the init factors."""
  lr = 0.02 if optimizer.startswith("adam") else 0.05
  members = [pop.Member("he_normal", s, lr=lr) for s in (0, 1)]
  out = {}
  for kind in ("mup", "mean_field"):
    cfg = _model(f"{kind}(base_width={BASE})")
    params, losses = _trained(cfg, optimizer, 20, members)
    out[kind] = cfg, params, losses
  (cfg_a, pa, la), (cfg_b, pb, lb) = out["mup"], out["mean_field"]
  assert np.all(np.isfinite(la)) and la[-1].mean() < 0.8 * la[0].mean()  # it trains
  np.testing.assert_allclose(lb, la, rtol=1e-5)
  for i, (sa, sb) in enumerate(zip(cfg_a.layer_scales(), cfg_b.layer_scales(), strict=True)):
    wa, wb = pa[f"layer_{i}"]["kernel"] * sa.multiplier, pb[f"layer_{i}"]["kernel"] * sb.multiplier
    np.testing.assert_allclose(wb, wa, rtol=1e-4, atol=1e-6)
  assert not np.allclose(pa["layer_1"]["kernel"], pb["layer_1"]["kernel"])


def test_sp_checkpoint_state_is_unchanged_and_a_sweep_config_round_trips() -> None:
  """SP adds nothing to the optimizer state (old checkpoints resume); a width-scaled one chains
  the per-layer factors; the parametrization is stored and read back with the model."""
  from jaxinit.studies import sweep
  sp_tx = tr.transform(_model("sp"), tr.TrainConfig(), 0.1, 0.9)
  mup_tx = tr.transform(_model(f"mup(base_width={BASE})"), tr.TrainConfig(), 0.1, 0.9)
  params = {"layer_0": {"kernel": jnp.zeros((2, 2))}}
  plain = optimizers.get(tr.TrainConfig().optimizer).transform(0.1, 0.9).init(params)
  structure = jax.tree.structure
  assert structure(sp_tx.init(params)) == structure(plain)
  assert structure(mup_tx.init(params)) == structure((plain, optax.EmptyState()))
  config = sweep.SweepConfig(model=_model(f"mup(base_width={BASE})"))
  assert sweep.load_config(config.to_json()) == config
  assert dataclasses.replace(config.model, parametrization="sp") == _model("sp")
