"""Tests of the residual MLP and the residual schemes: SkipInit/ReZero, Fixup, the branch multiplier.

Exact claims are tested bit for bit (SkipInit's identity blocks, Fixup's kernels, the multiplier as a
gate); the signal-propagation law against a Monte-Carlo ensemble with a stated tolerance; training
vmapped == one by one to float32 rounding (as tests/test_train.py, 1e-5).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinit import data, initializers, schemes
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.studies import measure

SMALL = models.ModelConfig(kind="resmlp", widths=(8,) * 7 + (1,))  # L = 3 blocks, depth 8
MOONS = data.moons(0)
X = MOONS.x_train[:16]


def _sown(cfg: models.ModelConfig, variables: dict, k: int, x: np.ndarray = X
          ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Member ``k``'s logits and intermediates (eval mode)."""
  one = jax.tree.map(lambda v: v[k], variables)
  logits, sown = models.logits_and_intermediates(models.build(cfg), one, jnp.asarray(x))
  return np.asarray(logits), {name: np.asarray(v) for name, v in sown.items()}


def test_resmlp_layout_and_intermediates() -> None:
  """Layers, gates and sown names as documented; act_i = phi(preact_i); the stream and branches
  recomputed from the params."""
  cfg = SMALL
  assert (cfg.depth, cfg.blocks, models.ModelConfig().blocks) == (8, 3, 0)
  variables = pop.init_params(cfg, pop.grid(["he_normal"], [5]), (2,))
  p = jax.tree.map(lambda v: np.asarray(v[0]), variables["params"])
  assert sorted(p) == sorted([f"layer_{i}" for i in range(8)] + ["gate_0", "gate_1", "gate_2"])
  assert all(p[f"gate_{b}"].shape == () and p[f"gate_{b}"] == 1.0 for b in range(3))
  logits, sown = _sown(cfg, variables, 0)
  assert set(sown) == ({f"preact_{i}" for i in range(8)} | {f"act_{i}" for i in range(7)}
                       | {f"resid_{b}" for b in range(4)} | {f"branch_{b}" for b in range(3)})
  relu = lambda v: np.maximum(v, 0)
  dense = lambda i, h: h @ p[f"layer_{i}"]["kernel"] + p[f"layer_{i}"]["bias"]
  h = dense(0, X)
  for b in range(3):
    np.testing.assert_allclose(sown[f"resid_{b}"], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(sown[f"preact_{2 * b}"], sown[f"resid_{b}"])  # the stream
    z = dense(2 * b + 1, relu(h))
    np.testing.assert_allclose(sown[f"preact_{2 * b + 1}"], z, rtol=1e-5, atol=1e-6)
    branch = dense(2 * b + 2, relu(z))
    np.testing.assert_allclose(sown[f"branch_{b}"], branch, rtol=1e-5, atol=1e-6)
    h = h + branch
  np.testing.assert_allclose(logits, dense(7, relu(h)), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(sown["preact_7"], logits)
  for i in range(7):
    np.testing.assert_array_equal(sown[f"act_{i}"], relu(sown[f"preact_{i}"]))


def test_skipinit_blocks_are_the_identity() -> None:
  """Every gate 0: each resid_b equals resid_0 bit for bit although the branches compute nonzero
  values, and the logits are readout(phi(layer_0(x))), the 2-layer MLP of the same kernels."""
  variables = pop.init_params(SMALL, pop.grid(["rezero"], [4]), (2,))
  p = jax.tree.map(lambda v: v[0], variables["params"])
  assert all(float(p[f"gate_{b}"]) == 0.0 for b in range(3))
  logits, sown = _sown(SMALL, variables, 0)
  for b in range(1, 4):
    np.testing.assert_array_equal(sown[f"resid_{b}"], sown["resid_0"])
    assert np.all(sown[f"branch_{b - 1}"] == 0) and np.any(sown[f"preact_{2 * b - 1}"] != 0)
  shallow = models.MLP(widths=(8, 1))
  logits_mlp = shallow.apply({"params": {"layer_0": p["layer_0"], "layer_1": p["layer_7"]}},
                             jnp.asarray(X))
  np.testing.assert_array_equal(logits, logits_mlp)
  assert np.std(logits) > 0.1


def test_fixup_is_its_formula() -> None:
  """Fixup's kernels against a he_normal member of the same seed: the projection the same, each
  branch's first kernel times L^-1/2 (L = 3: not a power of two, so the rounding is tested), the
  branch-last and readout kernels 0; biases 0, gates 1; so the blocks start as the identity and the
  logits at 0."""
  members = pop.grid(["he_normal", "fixup"], [5])
  variables = pop.init_params(SMALL, members, (2,))
  p = jax.tree.map(np.asarray, variables["params"])
  factor = np.float32(3 ** -0.5)
  np.testing.assert_array_equal(p["layer_0"]["kernel"][1], p["layer_0"]["kernel"][0])
  for b in range(3):
    first, last = p[f"layer_{2 * b + 1}"]["kernel"], p[f"layer_{2 * b + 2}"]["kernel"]
    np.testing.assert_array_equal(first[1], first[0] * factor)
    assert np.all(last[1] == 0) and p[f"gate_{b}"][1] == 1.0
  assert np.all(p["layer_7"]["kernel"][1] == 0)
  assert all(np.all(p[f"layer_{i}"]["bias"][1] == 0) for i in range(8))
  logits, sown = _sown(SMALL, variables, 1)
  for b in range(1, 4):
    np.testing.assert_array_equal(sown[f"resid_{b}"], sown["resid_0"])
  assert np.all(logits == 0)


def test_branch_multiplier_is_a_constant_gate() -> None:
  """beta = 1/sqrt(L) gives exactly the beta = 1 model with every gate set to beta, and each sown
  branch is beta times the block's last dense layer (recomputed)."""
  deep = dataclasses.replace(SMALL, branch_multiplier=" 1/sqrt( depth )")
  assert deep.branch_multiplier == "1/sqrt(depth)" and models.build(deep).branch_multiplier == (
      1 / math.sqrt(3))
  variables = jax.tree.map(lambda v: v[0], pop.init_params(SMALL, pop.grid(["he_normal"], [2]), (2,)))
  beta = np.float32(1 / math.sqrt(3))
  gated = {**variables["params"], **{f"gate_{b}": jnp.asarray(beta) for b in range(3)}}
  logits, sown = models.logits_and_intermediates(models.build(deep), variables, jnp.asarray(X))
  logits_1, sown_1 = models.logits_and_intermediates(models.build(SMALL), {"params": gated},
                                                     jnp.asarray(X))
  np.testing.assert_array_equal(logits, logits_1)
  for name in sown:
    np.testing.assert_array_equal(sown[name], sown_1[name])
  p = variables["params"]
  plain = models.logits_and_intermediates(models.build(SMALL), variables, jnp.asarray(X))[0]
  assert np.max(np.abs(logits - plain)) > 1e-2  # the multiplier changed the function
  for b in range(3):
    z = sown[f"act_{2 * b + 1}"] @ p[f"layer_{2 * b + 2}"]["kernel"] + p[f"layer_{2 * b + 2}"]["bias"]
    np.testing.assert_allclose(sown[f"branch_{b}"], beta * z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sown[f"resid_{b + 1}"] - sown[f"resid_{b}"], sown[f"branch_{b}"],
                               rtol=1e-4, atol=1e-6)


def test_parametrization_multipliers_reach_the_resmlp() -> None:
  """Under mean_field at twice its base width, each layer's input is multiplied by its forward
  multiplier: the same as the SP model with every kernel times it."""
  cfg = models.ModelConfig(kind="resmlp", widths=(16,) * 5 + (1,),
                           parametrization="mean_field(base_width=8)")
  multipliers = [s.multiplier for s in cfg.layer_scales()]
  assert multipliers == [1.0] + [2 ** -0.5] * 4 + [0.5]
  model = models.build(cfg)
  assert tuple(model.multipliers) == tuple(multipliers)
  variables = model.init(jax.random.key(0), jnp.asarray(X))
  scaled = {k: ({**v, "kernel": v["kernel"] * multipliers[int(k.split("_")[1])]}
                if k.startswith("layer_") else v) for k, v in variables["params"].items()}
  sp = models.build(cfg.without_parametrization())
  np.testing.assert_allclose(model.apply(variables, jnp.asarray(X)),
                             sp.apply({"params": scaled}, jnp.asarray(X)), rtol=1e-5, atol=1e-6)


def test_residual_scheme_names() -> None:
  per_layer = ("fixup(base=layers(he_normal, orthogonal, he_normal, he_normal, he_normal, he_normal, "
               "he_normal, zeros))")
  for name in ["skipinit", "rezero", "rezero(base=orthogonal)", "fixup", per_layer]:
    canonical = schemes.get(name).name
    assert schemes.get(canonical).name == canonical
  assert schemes.get("rezero").name == "skipinit(base=he_normal)"
  assert schemes.get("fixup").name == "fixup(base=he_normal)"
  assert {"skipinit", "fixup"} <= set(schemes.known())
  assert schemes.get(per_layer).depth == 8  # a layers(...) base keeps its per-layer draws


def test_errors() -> None:
  with pytest.raises(ValueError, match=r"unknown branch_multiplier '1/L'; accepted: 1, 1/sqrt\(depth\)"):
    dataclasses.replace(SMALL, branch_multiplier="1/L")
  with pytest.raises(ValueError, match="3 branch layers, not an even number >= 2"):
    models.ModelConfig(kind="resmlp", widths=(8,) * 4 + (1,))
  with pytest.raises(ValueError, match="0 branch layers"):
    models.ModelConfig(kind="resmlp", widths=(8, 1))
  with pytest.raises(ValueError, match="hidden widths must all be equal"):
    models.ModelConfig(kind="resmlp", widths=(8, 8, 4, 1))
  with pytest.raises(ValueError, match=r"is for kind='resmlp' .*; a mlp accepts only '1'"):
    models.ModelConfig(branch_multiplier="1/sqrt(depth)")
  with pytest.raises(ValueError, match="channels are for kind='cnn'"):
    models.ModelConfig(kind="resmlp", widths=(8, 8, 8, 1), channels=(4,))
  for scheme in ("fixup", "rezero"):
    with pytest.raises(ValueError, match=r"is for resmlp models; got a 'mlp' model"):
      pop.init_params(models.ModelConfig(), pop.grid([scheme], [0]), (2,))
  cnn = models.ModelConfig(kind="cnn", channels=(4,), widths=(8, 10))
  with pytest.raises(ValueError, match="got a 'cnn' model"):
    pop.check_layers(cnn, ["skipinit(base=glorot_normal)"])
  mlp = models.build(models.ModelConfig())  # the refinement itself checks the model too
  variables = mlp.init(jax.random.key(0), jnp.zeros((1, 2)))
  with pytest.raises(ValueError, match=r"for residual MLPs \(kind='resmlp'\); got a MLP"):
    schemes.get("fixup").refine(mlp, variables, jax.random.key(0), jnp.zeros((1, 2)))
  with pytest.raises(ValueError, match="base=rezero is a whole-network scheme"):
    schemes.get("fixup(base=rezero)")


def test_config_record_round_trip() -> None:
  """The run record's JSON (dataclasses.asdict) rebuilds the config; an older record without the
  field loads as branch multiplier 1."""
  cfg = dataclasses.replace(SMALL, branch_multiplier="1/sqrt(L)")
  assert models.ModelConfig(**dataclasses.asdict(cfg)) == cfg
  old = {k: v for k, v in dataclasses.asdict(models.ModelConfig()).items() if k != "branch_multiplier"}
  assert models.ModelConfig(**old).branch_multiplier == "1"


@pytest.mark.slow  # ~10 s of compiling: the fast suite keeps the identity and Fixup checks
def test_diagnostics_follow_the_stream() -> None:
  """diagnose on a resmlp: the stream layers' kernel G is mean h_b^2 and their grad_preact is
  dL/dh_b. With SkipInit the stream's gradient passes every block unchanged, so all of them have the
  same norm (were it taken at the blocks' last dense outputs it would be 0: gate 0); at the last
  stream layer it is (dL/dlogits W^T) phi'(h_L), by hand."""
  members = pop.grid(["skipinit", "he_normal"], [1])
  variables = pop.init_params(SMALL, members, (2,))
  y = MOONS.y_train[:16]
  diag = measure.diagnose(SMALL, members, variables, X, y, bins=8)
  rows = {(r["member"], r["layer"], r["quantity"]): r for r in diag.records}
  assert len(diag.records) == 2 * (8 * 5 - 1)
  _, sown = _sown(SMALL, variables, 1)
  for b in range(4):
    assert rows[1, 2 * b + 1, "preact"]["kernel"] == pytest.approx(np.mean(sown[f"resid_{b}"] ** 2),
                                                                  rel=1e-5)
  norms = [rows[0, 2 * b + 1, "grad_preact"]["grad_norm"] for b in range(4)]
  np.testing.assert_allclose(norms, norms[-1], rtol=1e-5)
  assert norms[-1] > 0
  one = jax.tree.map(lambda v: v[0], variables)
  logits, sown0 = _sown(SMALL, variables, 0)
  d_out = np.asarray(jax.vmap(jax.grad(lambda z, t: models.per_example_loss(z[None], t[None])[0][0]))(
      jnp.asarray(logits), jnp.asarray(y)))
  delta = (d_out @ np.asarray(one["params"]["layer_7"]["kernel"]).T) * (sown0["preact_6"] > 0)
  assert norms[-1] == pytest.approx(np.mean(np.sum(delta ** 2, axis=1)), rel=1e-5)


@pytest.mark.slow  # four training programs' compiles: ~9 s
def test_population_trains_as_each_member_alone() -> None:
  """he_normal, skipinit and fixup (with their own lrs and momenta) vmapped together == each trained
  alone, to float32 rounding, after 2 epochs on moons."""
  members = [pop.Member("he_normal", 0, 0.1), pop.Member("skipinit", 1, 0.05, 0.5),
             pop.Member("fixup", 2, 0.2, 0.8)]
  cfg = tr.TrainConfig(epochs=2, batch_size=32)
  moons = tr.device_data(MOONS)
  out = [(s, m) for _, s, m in tr.run(SMALL, cfg, members, moons)]
  state = jax.tree.map(np.asarray, out[-1][0])
  metrics = np.stack([m for _, m in out])
  assert metrics.shape == (2, 3, 4) and np.all(np.isfinite(metrics))
  for k, member in enumerate(members):
    alone, alone_metrics = tr.train_one(SMALL, cfg, member, moons)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(alone.params), strict=True):
      np.testing.assert_allclose(a[k], b, atol=1e-5, rtol=0)
    np.testing.assert_allclose(metrics[:, k], alone_metrics, atol=1e-5, rtol=0)
  gates = np.stack([state.params[f"gate_{b}"] for b in range(3)])
  assert np.all(gates[:, 1] != 0)  # SkipInit's gates moved off 0: its blocks train


@pytest.mark.slow  # two compiles of a 64-layer network: ~70 s
def test_deep_residual_mlp_trains() -> None:
  """A 64-layer residual MLP (31 blocks, width 16, no normalization) on moons: Fixup and SkipInit
  with beta = 1, and He's init with beta = 1/sqrt(L), reach > 90% train accuracy in 10 epochs
  (measured 95-98%); He's init with beta = 1 diverges (its stream's variance grows as 2^31)."""
  moons = tr.device_data(MOONS)
  cfg = tr.TrainConfig(epochs=10, batch_size=32, eval_every=10)
  results = {}
  for beta, names in (("1", ["fixup", "skipinit", "he_normal"]), ("1/sqrt(depth)", ["he_normal"])):
    model_cfg = models.ModelConfig(kind="resmlp", widths=(16,) * 63 + (1,), branch_multiplier=beta)
    assert (model_cfg.depth, model_cfg.blocks) == (64, 31)
    members = pop.grid(names, [0], lrs=[0.05])
    metrics = [m for _, _, m in tr.run(model_cfg, cfg, members, moons)][-1]
    results.update({(beta, name): metrics[k] for k, name in enumerate(names)})
  for key in (("1", "fixup"), ("1", "skipinit"), ("1/sqrt(depth)", "he_normal")):
    assert results[key][1] > 0.9, (key, results[key])
  assert np.all(np.isnan(results["1", "he_normal"]))  # diverged, marked and frozen


def _stream_second_moments(cfg: models.ModelConfig, networks: int, seed: int = 0) -> np.ndarray:
  """``(networks, L + 1)``: each He-initialized network's mean h_b^2 over units and a batch of 8
  N(0, I) inputs (BatchNorm, if on, with the batch's statistics)."""
  model = models.build(cfg, kernel_init=initializers.get("he_normal"))
  x = jax.random.normal(jax.random.key(1), (8, 16))
  mutable = ["intermediates", "batch_stats"] if cfg.batch_norm else ["intermediates"]

  def one(key: jax.Array) -> jax.Array:
    sown = model.apply(model.init(key, x), x, train=cfg.batch_norm, mutable=mutable)[1]
    return jnp.stack([jnp.mean(sown["intermediates"][f"resid_{b}"][0] ** 2)
                      for b in range(cfg.blocks + 1)])

  keys = jax.random.split(jax.random.key(seed), networks)
  return np.asarray(jax.jit(jax.vmap(one))(keys), np.float64)


@pytest.mark.parametrize("beta, batch_norm, rtol", [
    ("1/sqrt(depth)", False, 0.05), pytest.param("1", False, 0.3, marks=pytest.mark.slow),
    pytest.param("1/sqrt(depth)", True, 0.03, marks=pytest.mark.slow),
    pytest.param("1", True, 0.03, marks=pytest.mark.slow)])
def test_stream_variance_follows_the_recursion(beta: str, batch_norm: bool, rtol: float) -> None:
  """q_{b+1} = q_b + beta^2 V_b at init (ResMLP's docstring), width 64, L = 8, 256 networks, ReLU,
  He kernels, zero biases. Without normalization V_b = q_b: q_b = (1 + beta^2)^b q_0 (2^8 = 256
  for beta = 1, (9/8)^8 = 2.57 for 1/sqrt(8)); with BatchNorm V_b = 1: q_b = q_0 + b beta^2.
  Tolerances on q_b / prediction - 1, from the standard errors over networks measured at 4 seeds:
  1/sqrt(L): 1% (plus a +1-2% finite-width bias at the last block), so 5%; beta = 1: 3.5-5%, the
  product of 8 heavy-tailed factors (measured up to +15%), so 30%, still far from 2^8's
  alternatives (e.g. linear growth, 9); BatchNorm: 0.5%, the law exact in expectation, so 3%."""
  cfg = models.ModelConfig(kind="resmlp", widths=(64,) * 17 + (1,), branch_multiplier=beta,
                           batch_norm=batch_norm)
  q = _stream_second_moments(cfg, 256).mean(axis=0)
  b2, depth = models.branch_multiplier(beta, 8) ** 2, np.arange(9)
  predicted = q[0] + b2 * depth if batch_norm else q[0] * (1 + b2) ** depth
  np.testing.assert_allclose(q, predicted, rtol=rtol)
