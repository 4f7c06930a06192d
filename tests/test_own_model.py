"""A researcher's own model (nnx and linen) through the engine: rules, training, roles, LSUV.

The models here are written as a user would, with names unlike jaxinit's (``encoder/proj_a``),
nested modules, a LayerNorm, a convolution, an embedding, BatchNorm (linen) and Dropout (both).
Every reference is computed independently in the test: the initial values from the initializers
themselves, the trained parameters by a plain optax loop.
"""

from __future__ import annotations

import dataclasses
import zlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxinit import initializers
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models, parametrizations, protocol
from jaxinit.schemes import datadep, rules

VOCAB, CLASSES = 10, 3


class Encoder(nnx.Module):
  def __init__(self, width: int, rngs: nnx.Rngs) -> None:
    self.proj_a = nnx.Linear(width, width, rngs=rngs)
    self.attn = nnx.MultiHeadAttention(num_heads=2, in_features=width, decode=False, rngs=rngs)

  def __call__(self, h: jax.Array) -> jax.Array:
    h = nnx.tanh(self.proj_a(h))
    return h + self.attn(h[:, None, :])[:, 0]


class NnxNet(nnx.Module):
  """Token (column 0) -> embedding -> encoder -> LayerNorm; columns 1..4 -> conv; concat -> head."""

  def __init__(self, width: int = 8, rngs: nnx.Rngs | None = None) -> None:
    self.embed = nnx.Embed(VOCAB, width, rngs=rngs)
    self.encoder = Encoder(width, rngs)
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.conv = nnx.Conv(1, 2, (3,), rngs=rngs)
    self.drop = nnx.Dropout(0.2, rngs=rngs)
    self.head = nnx.Linear(width + 2 * 4, CLASSES, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    tok = x[:, 0].astype(jnp.int32)
    h = self.norm(self.encoder(self.embed(tok)))
    c = nnx.relu(self.conv(x[:, 1:5, None])).reshape(x.shape[0], -1)
    return self.head(self.drop(jnp.concatenate([h, c], -1)))


class LinenNet(nn.Module):
  width: int = 8

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    tok = nn.Embed(VOCAB, self.width, name="embed")(x[:, 0].astype(jnp.int32))
    h = nn.Dense(self.width, name="proj_a")(tok)
    h = nn.BatchNorm(use_running_average=not train, name="bn")(h)
    h = nn.LayerNorm(name="norm")(nn.relu(h))
    c = nn.Conv(2, (3,), name="conv")(x[:, 1:5, None]).reshape(x.shape[0], -1)
    h = nn.Dropout(0.2, deterministic=not train)(jnp.concatenate([h, nn.relu(c)], -1))
    return nn.Dense(CLASSES, name="head")(h)


RULE_SETS = (
    '{"*/kernel": "he_normal", "*/bias": "zeros", "*": "as_built"}',
    '{"head/kernel": "zeros", "re:.*proj_a/kernel": "orthogonal", "*/kernel": "glorot_uniform", '
    '"*/embedding": "normal(stddev=0.5)", "*": "as_built"}',
    "lecun_normal",
)


def _data(n: int = 40, seed: int = 0) -> tr.DeviceData:
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 5)).astype(np.float32)
  x[:, 0] = rng.integers(0, VOCAB, n)
  y = ((x[:, 1] > 0).astype(np.int32) + (x[:, 0] > 4)).astype(np.int32)
  return tr.DeviceData(jnp.asarray(x), jnp.asarray(y), jnp.asarray(x[:8]), jnp.asarray(y[:8]))


def _expected_initial(model: protocol.Model, rule_text: str, seed: int, x: jax.Array) -> dict:
  """Every leaf as the rule's initializer draws it from the leaf's key, written out here."""
  key = jax.random.key(seed)
  built = model.init(key, x[:1])
  rule_set = rules.RuleSet(
      (("re:(.*/)?kernel", initializers.get(rule_text).name), ("re:(.*/)?bias", "zeros"),
       ("*", "as_built")), strict=False) if not rule_text.startswith("{") else rules.parse(rule_text)
  layouts = model.layouts(tuple(x.shape))
  out = {}
  for path, value in protocol.flat_paths(built["params"]).items():
    name = rules.assign(dataclasses.replace(rule_set, strict=False), [path])[path]
    if name == "as_built":
      out[path] = np.asarray(value)  # the model's own draw (eager here: 1 ulp from compiled)
      continue
    k = jax.random.fold_in(jax.random.fold_in(key, rules.RULES_STREAM),
                           zlib.crc32(path.encode()))
    layout = layouts.get(path.rpartition("/")[0], protocol.Layout())
    draw = initializers.get(name)(k, layout.draw_shape(value.shape), jnp.float32)
    out[path] = np.asarray(draw).reshape(value.shape)
  return out


MODELS = {"nnx": lambda: protocol.from_nnx(lambda rngs: NnxNet(rngs=rngs), "nnx_net"),
          "linen": lambda: protocol.from_linen(LinenNet(), "linen_net")}


@pytest.mark.parametrize("kind", ["nnx", pytest.param("linen", marks=pytest.mark.slow)])
def test_every_leaf_is_its_rules_draw(kind: str) -> None:
  model, data = MODELS[kind](), _data()
  members = pop.grid(RULE_SETS[1:], (0, 7))  # a written rule set and a named scheme's
  variables = pop.init_params(model, members, data.x_train.shape[1:], host=True)
  for k, m in enumerate(members):
    expected = _expected_initial(model, m.scheme, m.seed, data.x_train)
    got = protocol.flat_paths(jax.tree.map(lambda v, k=k: v[k], variables["params"]))
    assert list(got) == list(expected)
    for path in expected:
      np.testing.assert_allclose(got[path], expected[path], rtol=1e-6, atol=0,
                                 err_msg=f"{m.scheme} {path}")
      if rules.assign(dataclasses.replace(rules.parse(m.scheme) if m.scheme.startswith("{") else
                                          rules.from_initializers(initializers.get(m.scheme),
                                                                  initializers.zeros()),
                                          strict=False), [path])[path] != "as_built":
        np.testing.assert_array_equal(got[path], expected[path], err_msg=f"{m.scheme} {path}")
  # The attention projections are drawn in their (d_model, heads * d_head) form: glorot's fans.
  if kind == "nnx":
    q = variables["params"]["encoder"]["attn"]["query"]["kernel"][:2]  # rule set 1, glorot_uniform
    bound = np.sqrt(6 / (8 + 8))
    assert np.abs(q).max() <= bound and np.abs(q).max() > 0.8 * bound


def _plain_loop(kind: str, rule_text: str, seed: int, lr: float, data: tr.DeviceData, steps: int
                ) -> dict:
  """The same member trained alone by a plain optax loop (full batch, SGD with momentum 0.9)."""
  model = MODELS[kind]()
  params = _expected_initial(model, rule_text, seed, data.x_train)
  tx = optax.sgd(lr, momentum=0.9)
  x, y = data.x_train, data.y_train
  if kind == "nnx":  # the idiomatic nnx loop: nnx.Optimizer, nnx.value_and_grad, nnx.jit
    module = NnxNet(rngs=nnx.Rngs(jax.random.key(seed)))
    state = nnx.state(module, nnx.Param)
    nnx.replace_by_pure_dict(state, jax.tree.unflatten(
        jax.tree.structure(nnx.to_pure_dict(state)), [jnp.asarray(params[path]) for path in
                                                      protocol.flat_paths(nnx.to_pure_dict(state))]))
    nnx.update(module, state)
    module.train()
    optimizer = nnx.Optimizer(module, tx, wrt=nnx.Param)

    @nnx.jit
    def step(module, optimizer):
      def loss(module):
        return optax.softmax_cross_entropy_with_integer_labels(module(x), y).mean()
      grads = nnx.grad(loss)(module)
      optimizer.update(module, grads)

    for _ in range(steps):
      step(module, optimizer)
    return protocol.flat_paths(nnx.to_pure_dict(nnx.state(module, nnx.Param)))
  module = LinenNet()
  variables = module.init(jax.random.key(seed), x[:1])
  p = jax.tree.unflatten(jax.tree.structure(variables["params"]),
                         [jnp.asarray(params[path]) for path in protocol.flat_paths(
                             variables["params"])])
  stats = variables["batch_stats"]

  @jax.jit
  def step(p, stats, opt, t):
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), protocol.DROPOUT_STREAM), t)

    def loss(p):
      out, upd = module.apply({"params": p, "batch_stats": stats}, x, train=True,
                              mutable=["batch_stats"], rngs={"dropout": key})
      return optax.softmax_cross_entropy_with_integer_labels(out, y).mean(), upd["batch_stats"]
    (_, stats), g = jax.value_and_grad(loss, has_aux=True)(p)
    u, opt = tx.update(g, opt, p)
    return optax.apply_updates(p, u), stats, opt

  opt = tx.init(p)
  for t in range(steps):
    p, stats, opt = step(p, stats, opt, t)
  return protocol.flat_paths(p)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(MODELS))
def test_population_equals_each_member_trained_alone(kind: str) -> None:
  """3 rule sets x 4 seeds x 2 learning rates, 20 full-batch steps in one compiled program; each
  member equals the plain loop to float32 rounding (rtol 2e-4, atol 2e-5: batched and unbatched
  matmuls round differently)."""
  model, data, steps = MODELS[kind](), _data(), 20
  members = pop.grid(RULE_SETS, range(4), lrs=(0.02, 0.1))
  cfg = tr.TrainConfig(epochs=steps, batch_size=None, eval_every=steps)
  *_, (epoch, state, metrics) = tr.run(model, cfg, members, data)
  assert epoch == steps and np.isfinite(metrics).all()
  trained = jax.tree.map(np.asarray, state.params)
  checked = [0, 5, 10, 13, 19, 23]  # every rule set, both learning rates, several seeds
  for k in checked:
    m = members[k]
    alone = _plain_loop(kind, m.scheme, m.seed, m.lr, data, steps)
    got = protocol.flat_paths(jax.tree.map(lambda v, k=k: v[k], trained))
    for path, value in alone.items():
      np.testing.assert_allclose(got[path], np.asarray(value), rtol=2e-4, atol=2e-5,
                                 err_msg=f"member {k} ({m.scheme}, seed {m.seed}) {path}")
  # The members differ: the seeds and the dropout streams are their own.
  head = trained["head"]["kernel"]
  assert not np.allclose(head[0], head[1])


def test_unmatched_leaves_and_unused_rules_are_named() -> None:
  model, data = MODELS["nnx"](), _data()
  with pytest.raises(ValueError, match=r"match no rule for .*norm/scale"):
    pop.init_params(model, pop.grid(['{"*/kernel": "he_normal", "*/bias": "zeros", '
                                     '"*/embedding": "normal"}'], [0]), data.x_train.shape[1:])
  with pytest.raises(ValueError, match=r"'decoder/\*' match no parameter"):
    pop.init_params(model, pop.grid(['{"decoder/*": "zeros", "*": "as_built"}'], [0]),
                    data.x_train.shape[1:])
  with pytest.raises(ValueError, match=r"per layer of a built-in model|built-in models only"):
    pop.init_params(model, pop.grid(["layers(he_normal, zeros)"], [0]), data.x_train.shape[1:])
  with pytest.raises(ValueError, match="block gates"):
    pop.init_params(model, pop.grid(["skipinit"], [0]), data.x_train.shape[1:])


def test_rule_sets_round_trip_and_refuse_bad_text() -> None:
  r = rules.parse('{"*/kernel": "he_normal", "*/bias": "normal(0.5)", "*": "as_built"}')
  assert rules.parse(r.name) == r
  assert r.name == '{"*/kernel": "he_normal", "*/bias": "normal(stddev=0.5)", "*": "as_built"}'
  assert pop.Member(r.name, 0).scheme == r.name
  for bad, why in (('{"a": "he_normal", "a": "zeros"}', "appears twice"), ("{}", "empty"),
                   ('{"a": "nope"}', "unknown initializer"), ('{"re:(": "zeros"}', "regular"),
                   ('{"a": 1}', "initializer name"), ("{not json", "not a JSON object")):
    with pytest.raises(ValueError, match=why):
      rules.parse(bad)


def test_inferred_roles_on_the_builtin_mlp_are_the_parametrization_table() -> None:
  x = jnp.zeros((2, 12))
  roles = protocol.roles(_mlp_at_width, 32, x)
  assert roles == {"layer_0/bias": "bias", "layer_0/kernel": "input", "layer_1/bias": "bias",
                   "layer_1/kernel": "hidden", "layer_2/bias": "fixed", "layer_2/kernel": "output"}
  for name in ("mup(base_width=8)", "ntk(base_width=8)", "mean_field(base_width=8)"):
    for adaptive in (False, True):
      layers = parametrizations.layer_scales(name, (32, 32, 10), adaptive=adaptive)
      leaves = parametrizations.leaf_scales(name, roles, 32 / 8, adaptive)
      for i, s in enumerate(layers):
        k, b = leaves[f"layer_{i}/kernel"], leaves[f"layer_{i}/bias"]
        assert (k.init, k.multiplier, k.lr, b.lr) == (s.init, s.multiplier, s.lr_kernel, s.lr_bias)


class Transformerish(nnx.Module):
  """Embedding, an attention block with its projections, a LayerNorm, an MLP and a readout, all
  of width ``d`` (heads fixed, head dimension ``d / 2``)."""

  def __init__(self, d: int, rngs: nnx.Rngs) -> None:
    self.tok = nnx.Embed(VOCAB, d, rngs=rngs)
    self.pos = nnx.Param(jnp.zeros((4, d)))
    self.attn = nnx.MultiHeadAttention(num_heads=2, in_features=d, decode=False, rngs=rngs)
    self.ln = nnx.LayerNorm(d, rngs=rngs)
    self.up = nnx.Linear(d, 4 * d, rngs=rngs)
    self.down = nnx.Linear(4 * d, d, rngs=rngs)
    self.readout = nnx.Linear(d, CLASSES, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    h = self.tok(x.astype(jnp.int32) % VOCAB) + self.pos[...]
    h = h + self.attn(self.ln(h))
    h = h + self.down(nnx.gelu(self.up(h)))
    return self.readout(h.mean(1))


def test_inferred_roles_on_a_transformer_are_the_mup_rules() -> None:
  """Tensor Programs V (Table 3 and §4): embeddings and position embeddings are input weights,
  attention and MLP matrices hidden, the readout an output weight, biases and LayerNorm's scale
  and shift vector-like; the readout's bias does not grow."""
  x = jnp.zeros((2, 4))
  roles = protocol.roles(lambda d: protocol.from_nnx(lambda rngs: Transformerish(d, rngs)), 16, x)
  hand = {"tok/embedding": "input", "pos": "input", "readout/kernel": "output",
          "readout/bias": "fixed", "up/kernel": "hidden", "down/kernel": "hidden",
          "up/bias": "bias", "down/bias": "bias", "ln/scale": "bias", "ln/bias": "bias"}
  for proj in ("query", "key", "value", "out"):
    hand[f"attn/{proj}/kernel"] = "hidden"
  for proj in ("query", "key", "value"):
    hand[f"attn/{proj}/bias"] = "bias"  # (heads, d_head): d_head grows
  hand["attn/out/bias"] = "bias"
  assert roles == hand


@pytest.mark.slow
def test_mup_through_inferred_roles_trains_as_the_builtin_mup() -> None:
  """The built-in MLP as a user's model, under muP with roles inferred from two widths, trains as
  ``ModelConfig(parametrization=mup)`` does from the same initial variables (Adam: every factor is
  a learning-rate factor; float32 rounding apart, the same records)."""
  config = models.ModelConfig(widths=(64, 64, 10), parametrization="mup(base_width=16)")
  rng = np.random.default_rng(1)
  x = rng.normal(size=(64, 12)).astype(np.float32)
  y = rng.integers(0, 10, 64).astype(np.int32)
  data = tr.DeviceData(*map(jnp.asarray, (x, y, x[:16], y[:16])))
  user = protocol.parametrize(_mlp_at_width, 64, "mup(base_width=16)", jnp.asarray(x[:2]))
  members = pop.grid(["he_normal"], range(3), lrs=(1e-3, 1e-2))
  cfg = tr.TrainConfig(epochs=4, batch_size=16, optimizer="adam")
  start = tr.init_state(config, cfg, members, data.x_train)
  builtin = [m for _, _, m in tr.run(config, cfg, members, data, state=jax.tree.map(
      np.array, start))]
  mine = [m for _, _, m in tr.run(user, cfg, members, data, state=jax.tree.map(np.array, start))]
  np.testing.assert_allclose(np.asarray(mine), np.asarray(builtin), rtol=1e-5, atol=1e-6)
  # The init factor is the table's: the readout is drawn at m^(-1/2) times SP's draw.
  drawn = pop.init_params(user, members[:1], (12,), host=True)
  sp = pop.init_params(protocol.parametrize(_mlp_at_width, 64, "sp", jnp.asarray(x[:2])),
                       members[:1], (12,), host=True)
  np.testing.assert_allclose(drawn["params"]["layer_2"]["kernel"],
                             sp["params"]["layer_2"]["kernel"] * (64 / 16) ** -0.5, rtol=1e-6)
  np.testing.assert_array_equal(drawn["params"]["layer_1"]["kernel"],
                                sp["params"]["layer_1"]["kernel"])


def _mlp_at_width(width: int) -> protocol.Model:
  return protocol.from_linen(models.build(models.ModelConfig(widths=(width, width, 10))))


def test_lsuv_on_a_user_model_gives_unit_variance_on_held_out_data() -> None:
  """LSUV (tol 0.05) on one batch; on a second batch of the same distribution every selected
  layer's output variance is 1 within 0.15 (the batch-to-batch spread of a 512-example variance)."""
  model = protocol.from_nnx(lambda rngs: _DeepNnx(rngs), "deep")
  rng = np.random.default_rng(3)
  fit, held = (jnp.asarray(rng.normal(size=(512, 20)).astype(np.float32)) for _ in range(2))
  variables = model.init(jax.random.key(0), fit[:1])
  weights = datadep.lsuv_weights(model, variables, fit)
  assert weights == [f"blocks/{i}/kernel" for i in range(11)] + ["head/kernel"]  # numbers as numbers
  for order in (weights, weights[::-1]):  # in execution order, and against it (more sweeps)
    result = jax.jit(lambda v, order=order: datadep.lsuv_any(model, v, fit, 0.05, 10, order))(
        variables)
    _, inter = model.capture(result.variables, held)
    for w in weights:
      v = float(jnp.var(inter[w.rpartition("/")[0]]))
      assert abs(v - 1) < 0.15, (order[0], w, v)
  # Before LSUV the deep layers were far from unit variance: the test can fail.
  _, before = model.capture(variables, held)
  assert max(abs(float(jnp.var(before[w.rpartition("/")[0]])) - 1) for w in weights) > 0.5


class _DeepNnx(nnx.Module):
  """11 tanh layers (``blocks/10`` sorts before ``blocks/2`` as text), then a readout."""

  def __init__(self, rngs: nnx.Rngs) -> None:
    self.blocks = nnx.List([nnx.Linear(20, 20, kernel_init=nnx.initializers.normal(0.5),
                                       rngs=rngs) for _ in range(11)])
    self.head = nnx.Linear(20, 3, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    for block in self.blocks:
      x = nnx.tanh(block(x))
    return self.head(x)


COORD_MODULE = '''
from flax import nnx


class UserMlp(nnx.Module):
  """Three relu layers of ``width`` units and a readout, named as a user would."""

  def __init__(self, width: int, rngs: nnx.Rngs):
    self.trunk = nnx.List([nnx.Linear(2 if i == 0 else width, width, rngs=rngs) for i in range(3)])
    self.logits = nnx.Linear(width, 1, rngs=rngs)

  def __call__(self, x):
    for layer in self.trunk:
      x = nnx.relu(layer(x))
    return self.logits(x)
'''


@pytest.mark.slow
def test_coordinate_check_of_a_user_nnx_mlp_reproduces_the_builtin_slopes(
    tmp_path, monkeypatch) -> None:
  """SP and muP (Adam, 3 steps) on widths 32..256: the user's nnx MLP (roles inferred) and the
  built-in MLP (the parametrization table) give each layer's change slope within 0.15 of each
  other at the last step (their seeds' draws differ: the spread over 4 seeds is ~0.05); SP's
  hidden change grows (slope > 0.6) where muP's does not (|slope| < 0.25): the check can fail."""
  from jaxinit.studies import coordcheck

  (tmp_path / "coord_user.py").write_text(COORD_MODULE)
  monkeypatch.syspath_prepend(str(tmp_path))
  widths = (32, 64, 128, 256)
  settings = dict(steps=3, seeds=(0, 1, 2, 3), lr=0.01)
  built = coordcheck.configs(["sp", "mup"], widths, **settings)
  slopes = {}
  for name, config in built.items():
    spec = protocol.Spec("coord_user:UserMlp", '{"width": 32}', config.model.parametrization)
    mine = coordcheck.run(dataclasses.replace(config, model=spec), quiet=True)
    theirs = coordcheck.run(config, quiet=True)
    assert mine.layer_names == ("trunk/0", "trunk/1", "trunk/2", "logits")
    a, b = mine.slopes("change")[0][-1], theirs.slopes("change")[0][-1]
    np.testing.assert_allclose(a, b, atol=0.15, err_msg=name)
    slopes[name] = a
    frame = mine.to_frame()
    assert len(frame) == 4 * 4 * 4 * 4 and set(frame["module"]) == set(mine.layer_names)
    row = frame[(frame.width == 64) & (frame.seed == 2) & (frame.step == 3) & (frame.layer == 1)]
    assert float(row["change"].iloc[0]) == mine.change_WSTL[1, 2, 3, 1]
  assert slopes["sp"][1] > 0.6 and abs(slopes["mup(base_width=32)"][1]) < 0.25


def test_theory_predicts_nothing_for_a_rule_set_on_a_builtin_mlp() -> None:
  """A rule set's layers are not read by the theory overlays: diagnose shows '-' (it raised)."""
  from jaxinit.schemes import predictions

  cfg = models.ModelConfig(widths=(16, 16, 1))
  rule_set = '{"*/kernel": "he_normal", "*/bias": "zeros"}'
  assert predictions.layer_variances(rule_set, cfg, (2,)) is None
  assert predictions.fourth_moment_prediction(rule_set, cfg, (2,), np.ones(2)) is None
  assert predictions.layer_variances("he_normal", cfg, (2,)) is not None
