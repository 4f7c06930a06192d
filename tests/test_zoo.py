"""The model zoo: transformers, deep CNNs, their inits by name, and the token tasks they train on.

Every reference is written out here: causal attention from its formula in NumPy (float64), each
transformer init's standard deviation per parameter family from its paper's formula, the modular
and recall labels from their definitions, BatchNorm's running statistics from a convolution written
out in NumPy. Seeds are fixed; statistical tolerances are five standard errors of the pooled sample.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinit import data as datasets
from jaxinit import schemes
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import convnets, protocol, transformer
from jaxinit.results import records
from jaxinit.schemes import transformers


def _tokens(rng: np.random.Generator, shape: tuple[int, ...], vocab: int) -> jax.Array:
  """Token ids as the engine's float32 inputs."""
  return jnp.asarray(rng.integers(0, vocab, shape).astype(np.float32))


def _random_variables(init: Any, x: jax.Array, rng: np.random.Generator, std: float = 0.3) -> dict:
  """Variables of ``init``'s structure (found from shapes alone) with every parameter, biases and
  LayerNorm scales included, drawn N(0, std^2) by NumPy, and BatchNorm's statistics as Flax builds
  them (mean 0, var 1): random values probe more than an init does, and no init is compiled (XLA
  compiles threefry draws slowly on a CPU: a jitted ResNet(width=4) init alone took ~20 s)."""
  shapes = jax.eval_shape(init, jax.random.key(0), x)

  def fill(path: tuple, leaf: jax.ShapeDtypeStruct) -> jax.Array:
    if path[0].key == "params":
      return jnp.asarray(std * rng.normal(size=leaf.shape), leaf.dtype)
    return jnp.full(leaf.shape, 1.0 if path[-1].key == "var" else 0.0, leaf.dtype)

  return jax.tree_util.tree_map_with_path(fill, dict(shapes))


# ------------------------------------------------------------------------------------ causality


@pytest.mark.slow  # ~3 s of compiles: the fast suite is near its limit
def test_causal_attention_and_blocks_never_look_ahead() -> None:
  """Perturbing position j of a (B, T, d) input leaves the outputs at every position before j
  bit-identical and changes position j, for Attention and for a Block under each norm; without the
  mask position 0 does see a later perturbation (the check can fail)."""
  rng = np.random.default_rng(0)
  b, t, d = 2, 6, 16
  x = jnp.asarray(rng.normal(size=(b, t, d)).astype(np.float32))
  bump = jnp.asarray(rng.normal(size=(b, d)).astype(np.float32))
  modules = {"attention": transformer.Attention(heads=4),
             **{f"block, norm={n}": transformer.Block(heads=4, norm=n) for n in transformer.NORMS}}
  for name, module in modules.items():
    variables = _random_variables(module.init, x, rng)
    apply = jax.jit(module.apply)
    out = np.asarray(apply(variables, x))
    for j in range(t):
      moved = np.asarray(apply(variables, x.at[:, j].add(bump)))
      np.testing.assert_array_equal(moved[:, :j], out[:, :j], err_msg=f"{name}, position {j}")
      assert (moved[:, j] != out[:, j]).any(axis=-1).all(), (name, j)
  seeing = transformer.Attention(heads=4, causal=False)
  apply = jax.jit(seeing.apply)
  variables = _random_variables(seeing.init, x, rng)
  before, after = (apply(variables, xx)[:, 0] for xx in (x, x.at[:, -1].add(bump)))
  assert float(jnp.abs(after - before).max()) > 1e-3


@pytest.mark.slow  # compiles for ~5 s: the fast suite has no room
def test_decoder_prediction_depends_only_on_the_prefix() -> None:
  """Decoder(vocab=13, width=32, depth=2, heads=4), random parameters: its logits for the prefix
  x[:, :k] (the position table cut to k rows; k = 1, 4) equal the readout of the full sequence's
  final stream at position k - 1 (rtol 1e-5: other shapes round differently); changing the last
  token changes the output while every block's output and its sown attention logits at the earlier
  query rows (their causal part, keys up to the query) stay bit-identical."""
  rng = np.random.default_rng(1)
  vocab, b, t = 13, 3, 7
  model = protocol.of(transformer.Decoder(vocab=vocab, width=32, depth=2, heads=4))
  x = _tokens(rng, (b, t), vocab)
  variables = _random_variables(model.init, x, rng)
  params = variables["params"]
  capture, apply = jax.jit(model.capture), jax.jit(lambda v, x: model.apply(v, x)[0])
  out, inter = capture(variables, x)
  assert out.shape == (b, vocab) and inter["block_0/attn/logits"].shape == (b, 4, t, t)
  w, bias = np.asarray(params["readout"]["kernel"]), np.asarray(params["readout"]["bias"])
  stream = np.asarray(inter["ln_final"])
  np.testing.assert_allclose(np.asarray(out), stream[:, -1] @ w + bias, rtol=1e-5, atol=1e-6)
  for k in (1, 4):
    prefix = apply({"params": {**params, "position": params["position"][:k]}}, x[:, :k])
    np.testing.assert_allclose(np.asarray(prefix), stream[:, k - 1] @ w + bias, rtol=1e-5,
                               atol=1e-6, err_msg=f"prefix {k}")
  changed = x.at[:, -1].set((x[:, -1] + 1) % vocab)
  out2, inter2 = capture(variables, changed)
  assert (np.asarray(out2) != np.asarray(out)).any(axis=-1).all()
  causal = np.tril(np.ones((t - 1, t - 1), bool))
  for block in ("block_0", "block_1"):
    np.testing.assert_array_equal(np.asarray(inter2[block])[:, :-1], np.asarray(inter[block])[:, :-1])
    logits, logits2 = (np.asarray(i[f"{block}/attn/logits"]) for i in (inter, inter2))
    np.testing.assert_array_equal(logits2[:, :, :-1, :-1][..., causal],
                                  logits[:, :, :-1, :-1][..., causal], err_msg=block)
    assert (logits2[:, :, -1] != logits[:, :, -1]).any()


# ------------------------------------------------------------------------------ attention formula


def _reference_attention(params: dict, x: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
  """Causal multi-head attention from its formula, in float64: ``softmax(scale q k^T + mask) v``,
  heads concatenated, then the output projection. Returns (output, logits before the mask)."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  x = np.asarray(x, np.float64)
  q, k, v = (np.einsum("btd,dhe->bthe", x, p[n]["kernel"]) + p[n]["bias"]
             for n in ("query", "key", "value"))
  logits = scale * np.einsum("bqhe,bkhe->bhqk", q, k)
  t = x.shape[1]
  masked = np.where(np.tril(np.ones((t, t), bool)), logits, -np.inf)
  weights = np.exp(masked - masked.max(axis=-1, keepdims=True))
  weights /= weights.sum(axis=-1, keepdims=True)
  mixed = np.einsum("bhqk,bkhe->bqhe", weights, v)
  return np.einsum("bqhe,hed->bqd", mixed, p["out"]["kernel"]) + p["out"]["bias"], logits


def test_attention_equals_its_formula_at_both_scales() -> None:
  """Attention(heads=2) on (2, 5, 16) inputs (d_head = 8), one set of parameters in the module's
  own structure (kernels (16, 2, 8) and (2, 8, 16), biases nonzero): the output and the sown
  logits equal the hand-written causal attention at scale 1/d_head and 1/sqrt(d_head) (rtol 1e-5
  against float64), and the two scales give different outputs."""
  rng = np.random.default_rng(2)
  x = rng.normal(size=(2, 5, 16)).astype(np.float32)
  variables = _random_variables(transformer.Attention(heads=2).init, jnp.asarray(x), rng, std=0.25)
  assert variables["params"]["query"]["kernel"].shape == (16, 2, 8)
  assert variables["params"]["out"]["kernel"].shape == (2, 8, 16)
  outs = {}
  for name, scale in (("1/d_head", 1 / 8), ("1/sqrt(d_head)", 1 / math.sqrt(8))):
    assert transformer.attention_scale(name, 8) == scale
    module = transformer.Attention(heads=2, scale=name)
    out, sown = jax.jit(lambda v, x, m=module: m.apply(v, x, mutable=["intermediates"]))(
        variables, jnp.asarray(x))
    expected, logits = _reference_attention(variables["params"], x, scale)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(np.asarray(sown["intermediates"]["logits"][0]), logits, rtol=1e-5,
                               atol=1e-5, err_msg=name)
    outs[name] = expected
  assert np.abs(outs["1/d_head"] - outs["1/sqrt(d_head)"]).max() > 1e-2
  with pytest.raises(ValueError, match="attention_scale"):
    transformer.attention_scale("1/d", 8)


# --------------------------------------------------------------------- transformer inits by name

L, D, HEADS, VOCAB, T = 2, 64, 4, 50, 8
"""The Decoder the init tables are written for: depth, d_model, heads, vocabulary, sequence length."""
MEMBERS = 8


def _xavier(fan_in: int, fan_out: int) -> float:
  return math.sqrt(2 / (fan_in + fan_out))


# Fans of each weight family in its matrix form: attention projections as (d, heads * d_head) and
# (heads * d_head, d), the MLP (d, 4d) and (4d, d), the readout (d, vocab), the embedding (vocab, d).
_C = (9 * L) ** -0.25  # T-Fixup's decoder factor
_BETA = (8 * L) ** -0.25  # DeepNorm's gain
_SMALL = math.sqrt(2 / (5 * D))
# scheme -> (Decoder arguments, {family: (std, distribution)}); N normal, U uniform, TN Flax's
# truncated normal, 0 exactly zero. Biases are zero and LayerNorm scales one in every scheme.
INIT_TABLES = {
    f"gpt2(depth={L})": ({"norm": "pre"}, {
        "embed": (0.02, "N"), "position": (0.01, "N"), "query": (0.02, "N"), "key": (0.02, "N"),
        "value": (0.02, "N"), "out": (0.02 / math.sqrt(2 * L), "N"), "fc": (0.02, "N"),
        "proj": (0.02 / math.sqrt(2 * L), "N"), "readout": (0.02, "N")}),
    f"t_fixup(depth={L}, width={D})": ({"norm": "none"}, {
        "embed": (D ** -0.25 * _C, "N"), "position": (D ** -0.25 * _C, "N"),
        "query": (_xavier(D, D), "U"), "key": (_xavier(D, D), "U"),
        "value": (_C * _xavier(D, D), "U"), "out": (_C * _xavier(D, D), "U"),
        "fc": (_C * _xavier(D, 4 * D), "U"), "proj": (_C * _xavier(4 * D, D), "U"),
        "readout": (_xavier(D, VOCAB), "U")}),
    f"deepnorm(depth={L})": ({"norm": "post", "skip_multiplier": transformers.deepnorm_alpha(L)}, {
        "embed": (D ** -0.5, "N"), "position": (0.02, "N"),  # as built: N(0, 1/d) and N(0, 0.02^2)
        "query": (_xavier(D, D), "N"), "key": (_xavier(D, D), "N"),
        "value": (_BETA * _xavier(D, D), "N"), "out": (_BETA * _xavier(D, D), "N"),
        "fc": (_BETA * _xavier(D, 4 * D), "N"), "proj": (_BETA * _xavier(4 * D, D), "N"),
        "readout": (D ** -0.5, "TN")}),  # as built: Flax's lecun_normal
    f"small_init(width={D})": ({"norm": "pre"}, {
        f: (_SMALL, "N") for f in ("embed", "position", "query", "key", "value", "out", "fc", "proj",
                                   "readout")}),
    "mup_init": ({"norm": "pre", "attention": "1/d_head"}, {
        "embed": (VOCAB ** -0.5, "N"), "position": (0.02, "N"), "query": (0.0, "0"),
        "key": (D ** -0.5, "N"), "value": (D ** -0.5, "N"), "out": (D ** -0.5, "N"),
        "fc": (D ** -0.5, "N"), "proj": ((4 * D) ** -0.5, "N"), "readout": (0.0, "0")}),
}


def _family(path: str) -> str:
  """The weight family of a Decoder parameter path: ``block_1/attn/out/kernel`` -> ``out``."""
  if path in ("position", "embed/embedding"):
    return path.partition("/")[0]
  return path.split("/")[-2]


@pytest.mark.parametrize("scheme", [pytest.param(s, marks=() if i == 0 else pytest.mark.slow)
                                    for i, s in enumerate(INIT_TABLES)])
def test_transformer_inits_draw_their_papers_std(scheme: str) -> None:
  """Each weight family's standard deviation, pooled over the L = 2 blocks and 8 members, equals
  the paper's formula (INIT_TABLES) within five standard errors, 5 / sqrt(2 n) relative (a normal
  sample's; uniform and truncated samples spread less); the distribution is the one named (a
  uniform's max is within [0.99, 1] of its bound sqrt(3) std, a truncated normal's below 2.28 std,
  a normal's beyond 3 std); biases and zero families exactly zero, LayerNorm scales exactly one."""
  args, table = INIT_TABLES[scheme]
  assert schemes.get(scheme).rules == {
      "gpt2": lambda: transformers.gpt2(L), "t_fixup": lambda: transformers.t_fixup(L, D),
      "deepnorm": lambda: transformers.deepnorm(L), "small_init": lambda: transformers.small_init(D),
      "mup_init": transformers.mup_init}[scheme.partition("(")[0]]()
  model = protocol.of(transformer.Decoder(vocab=VOCAB, width=D, depth=L, heads=HEADS, **args))
  drawn = pop.init_params(model, [pop.Member(scheme, seed) for seed in range(MEMBERS)], (T,),
                          host=True)
  pooled: dict[str, list[np.ndarray]] = {f: [] for f in table}
  norms = 0
  for path, value in protocol.flat_paths(drawn["params"]).items():
    value = np.asarray(value, np.float64)
    if path.endswith("/bias"):
      assert not value.any(), path
    elif path.endswith("/scale"):
      np.testing.assert_array_equal(value, 1.0, err_msg=path)
      norms += 1
    else:
      pooled[_family(path)].append(value.ravel())
  assert norms == {"pre": 2 * L + 1, "post": 2 * L, "none": 0}[args["norm"]]
  for family, (std, dist) in table.items():
    sample = np.concatenate(pooled[family])
    assert sample.size >= MEMBERS * T * D, family  # every family was found, in every member
    if dist == "0":
      assert not sample.any(), family
      continue
    rms, top = float(np.sqrt(np.mean(sample ** 2))), float(np.abs(sample).max())
    tol = 5 / math.sqrt(2 * sample.size)
    assert abs(rms / std - 1) < tol, (family, rms, std, tol)
    if dist == "U":
      assert 0.99 * math.sqrt(3) * std < top <= math.sqrt(3) * std * (1 + 1e-6), (family, top, std)
    elif dist == "TN":
      assert top < 2.28 * std, (family, top, std)
    else:
      assert top > 3 * std, (family, top, std)
  first = drawn["params"]["block_0"]["attn"]["key"]["kernel"]
  assert not np.array_equal(first[0], first[1])  # the members are their own draws


def test_deepnorm_constants() -> None:
  """DeepNorm's alpha = (2L)^(1/4) and beta = (8L)^(-1/4) (Wang et al. 2022, Table 1)."""
  for depth in (1, 2, 8, 100):
    assert transformers.deepnorm_alpha(depth) == pytest.approx((2 * depth) ** 0.25, rel=1e-15)
    assert transformers.deepnorm_beta(depth) == pytest.approx((8 * depth) ** -0.25, rel=1e-15)
  assert transformers.deepnorm_alpha(8) == pytest.approx(2.0) and transformers.deepnorm_beta(2) == 0.5
  with pytest.raises(ValueError, match="depth"):
    transformers.deepnorm_alpha(0)


@pytest.mark.parametrize("name,canonical", [
    ("gpt2(depth=4)", "gpt2(depth=4)"), ("gpt2(4)", "gpt2(depth=4)"),
    ("t_fixup(width=64, depth=2)", "t_fixup(depth=2, width=64)"), ("t_fixup(2, 64)",
                                                                   "t_fixup(depth=2, width=64)"),
    ("deepnorm(depth=3)", "deepnorm(depth=3)"), ("small_init(width=128)", "small_init(width=128)"),
    ("mup_init", "mup_init")])
def test_transformer_scheme_names_round_trip(name: str, canonical: str) -> None:
  """A transformer scheme's name is canonical (every argument by keyword), get(get(n).name) is the
  same scheme, and a member stores the canonical name."""
  s = schemes.get(name)
  assert s.name == canonical and s.rules is not None
  again = schemes.get(s.name)
  assert again.name == s.name and again.rules == s.rules
  assert pop.Member(name, 0).scheme == canonical


@pytest.mark.parametrize("bad", ["gpt2(depth=0)", "gpt2(depth=1.5)", "gpt2", "t_fixup(depth=2)",
                                 "small_init(width=-1)", "mup_init(1)", "deepnorm(depth=True)",
                                 "t_fixup(2, 64, 3)"])
def test_bad_transformer_scheme_arguments_are_one_line_value_errors(bad: str) -> None:
  """Out-of-range, missing and extra arguments: a ValueError whose one-line message names the
  scheme and says what is accepted."""
  with pytest.raises(ValueError, match="accepted") as info:
    schemes.get(bad)
  message = str(info.value)
  assert "\n" not in message and bad.partition("(")[0] in message


# ----------------------------------------------------------------------------------- token tasks


@pytest.mark.parametrize("op", sorted(datasets.MODULAR_OPS))
def test_modular_labels_split_and_seeds(op: str) -> None:
  """modular(p=7, op, train_fraction=0.4): every example's label is (a op b) mod p, its third token
  the '=' token p; the two splits partition the 49 equations (19 train: int(0.4 * 49)); inputs are
  exact integers in float32; the split is the same for a seed and differs between seeds."""
  p = 7
  reference = {"add": lambda a, b: (a + b) % p, "sub": lambda a, b: (a - b) % p,
               "mul": lambda a, b: (a * b) % p}[op]
  ds = datasets.modular(p=p, op=op, train_fraction=0.4, seed=0)
  assert ds.name == f"modular(p={p}, op={op}, train_fraction=0.4)" and ds.num_classes == p
  assert (len(ds.y_train), len(ds.y_test)) == (19, 30)
  seen = []
  for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
    assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (len(y), 3)
    np.testing.assert_array_equal(x, np.round(x))
    a, b = x[:, 0].astype(int), x[:, 1].astype(int)
    assert a.min() >= 0 and b.min() >= 0 and max(a.max(), b.max()) < p and (x[:, 2] == p).all()
    np.testing.assert_array_equal(y, [reference(i, j) for i, j in zip(a, b, strict=True)])
    seen += list(zip(a, b, strict=True))
  assert len(seen) == len(set(seen)) == p * p
  again, other = datasets.modular(p=p, op=op, train_fraction=0.4, seed=0), datasets.modular(
      p=p, op=op, train_fraction=0.4, seed=1)
  np.testing.assert_array_equal(again.x_train, ds.x_train)
  np.testing.assert_array_equal(again.y_test, ds.y_test)
  assert {tuple(r) for r in other.x_train.tolist()} != {tuple(r) for r in ds.x_train.tolist()}


def test_recall_labels_are_the_value_after_the_query_key() -> None:
  """recall(pairs=3, keys=6, values=5): sequences k1 v1 k2 v2 k3 v3 q of shape (n, 7), the keys
  of a sequence distinct, the values in keys..keys+values-1, the query one of the keys, and the
  label the value token after the query's key minus keys; train and test are different draws; a
  seed repeats its arrays."""
  pairs, keys, values = 3, 6, 5
  ds = datasets.recall(pairs=pairs, keys=keys, values=values, n=200, n_test=50, seed=3)
  assert ds.num_classes == values and datasets.vocabulary(ds.name) == keys + values
  for x, y, n in ((ds.x_train, ds.y_train, 200), (ds.x_test, ds.y_test, 50)):
    assert x.shape == (n, 2 * pairs + 1) and x.dtype == np.float32 and y.shape == (n,)
    np.testing.assert_array_equal(x, np.round(x))
    tok = x.astype(int)
    for row, label in zip(tok, y, strict=True):
      ks, vs, q = row[:-1:2], row[1:-1:2], row[-1]
      assert len(set(ks)) == pairs and ks.min() >= 0 and ks.max() < keys
      assert ((keys <= vs) & (vs < keys + values)).all()
      assert q in ks and label == vs[list(ks).index(q)] - keys
  assert set(ds.y_train) == set(range(values))  # 200 draws reach every value
  assert not np.array_equal(ds.x_train[:50], ds.x_test)
  again = datasets.recall(pairs=pairs, keys=keys, values=values, n=200, n_test=50, seed=3)
  np.testing.assert_array_equal(again.x_train, ds.x_train)


@pytest.mark.parametrize("name", ["modular(p=11)", "modular(p=5, op=mul, train_fraction=0.6)",
                                  "recall", "recall(pairs=2, keys=4, values=3, n=6, n_test=2)"])
def test_token_sets_names_sizes_and_normalization(name: str) -> None:
  """A token task's canonical name round-trips and loads; family 'tokens'; num_classes, vocabulary
  and nbytes (examples * (2 * 4 * features + 4)) agree with the arrays; its normalization is
  'none' and any other is refused; a seed in the name is refused."""
  canonical = datasets.canonical(name)
  assert datasets.canonical(canonical) == canonical and datasets.family(name) == "tokens"
  ds = datasets.load(name)
  assert ds.name == canonical and datasets.default_normalize(name) == "none"
  assert datasets.num_classes(name) == ds.num_classes == int(max(ds.y_train.max(), ds.y_test.max())) + 1
  tokens = np.concatenate([ds.x_train.ravel(), ds.x_test.ravel()])
  assert tokens.min() >= 0 and tokens.max() < datasets.vocabulary(name)
  if canonical.startswith("modular"):
    assert tokens.max() == datasets.vocabulary(name) - 1  # the '=' token is the last id
  x_bytes = ds.x_train.nbytes + ds.x_test.nbytes
  assert datasets.nbytes(name) == 2 * x_bytes + ds.y_train.nbytes + ds.y_test.nbytes
  examples, features = len(ds.y_train) + len(ds.y_test), ds.x_train.shape[1]
  assert datasets.nbytes(name) == examples * (2 * 4 * features + 4)
  for normalize in ("standard", "per_feature", "unit"):
    with pytest.raises(ValueError, match="normalize"):
      datasets.load(name, normalize=normalize)
  base = canonical.partition("(")[0]
  with pytest.raises(ValueError, match="token ids"):
    datasets.LOADERS[base](normalize="standard")
  with pytest.raises(ValueError, match="seed"):
    datasets.canonical(f"{base}(seed=1)")


@pytest.mark.parametrize("kind", ["mlp", "cnn", "resmlp"])
def test_builtin_models_refuse_token_data(kind: str) -> None:
  """A built-in model on token ids is refused, pointing at the Decoder."""
  from jaxinit.studies import sweep

  with pytest.raises(ValueError, match="token ids") as info:
    sweep.configure("modular(p=11)", kind)
  assert "jaxinit.nets.transformer:Decoder" in str(info.value)


# ------------------------------------------------------------------------------------- convnets


@pytest.mark.slow  # compiles for ~5 s: the fast suite has no room
def test_resnet_shapes_and_batch_norm_state() -> None:
  """ResNet(width=4, blocks=1) on (3, 8, 8, 3): logits (3, 7), stages at 4, 8, 16 channels with
  projected shortcuts; in training (protocol apply, train=True) it returns the updated batch_stats,
  the stem's equal to 0.9 * initial + 0.1 * the batch mean and (biased) variance of the stem
  convolution written out here (rtol 1e-5), and other logits than in evaluation, which returns no
  state; without BatchNorm there is no state at all."""
  rng = np.random.default_rng(4)
  x = jnp.asarray(rng.normal(size=(3, 8, 8, 3)).astype(np.float32))
  model = protocol.of(convnets.ResNet(width=4, blocks=1, outputs=7))
  variables = _random_variables(model.init, x, rng)
  shapes = model.param_shapes(x)
  assert shapes["stem/conv/kernel"] == (3, 3, 3, 4) and shapes["readout/kernel"] == (16, 7)
  assert shapes["stage_2_block_0/shortcut/conv/kernel"] == (1, 1, 8, 16)
  assert "stage_0_block_0/shortcut/conv/kernel" not in shapes  # identity skip at equal width
  apply = jax.jit(model.apply, static_argnums=2)
  out, state = apply(variables, x, False)
  assert out.shape == (3, 7) and state == {}
  trained_out, state = apply(variables, x, True)
  assert trained_out.shape == (3, 7) and set(state) == {"batch_stats"}
  assert jax.tree.structure(state["batch_stats"]) == jax.tree.structure(variables["batch_stats"])
  assert not np.allclose(np.asarray(trained_out), np.asarray(out))  # batch statistics differ
  stem_conv = jax.tree.map(lambda a: np.asarray(a, np.float64), variables["params"]["stem"]["conv"])
  padded = np.pad(np.asarray(x, np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))  # SAME, 3 x 3
  conv = sum(np.einsum("bijc,co->bijo", padded[:, di:di + 8, dj:dj + 8], stem_conv["kernel"][di, dj])
             for di in range(3) for dj in range(3)) + stem_conv["bias"]
  stem = state["batch_stats"]["stem"]["bn"]
  np.testing.assert_allclose(stem["mean"], 0.1 * conv.mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(stem["var"], 0.9 + 0.1 * conv.var(axis=(0, 1, 2)), rtol=1e-5)
  plain = protocol.of(convnets.ResNet(width=4, blocks=1, outputs=7, batch_norm=False))
  plain_vars = jax.eval_shape(plain.init, jax.random.key(5), x)
  assert set(plain_vars) == {"params"}
  assert jax.eval_shape(lambda v: plain.apply(v, x, train=True), plain_vars)[1] == {}


@pytest.mark.slow  # compiles for ~5 s: the fast suite has no room
def test_deep_cnn_delta_orthogonal_centre_taps_are_orthogonal() -> None:
  """DeepCNN(width=8, depth=2, downsample=1), tanh, drawn by population.init_params with
  delta-orthogonal kernels (a rule set: the readout is dense): logits (2, 10) for MNIST-shaped
  inputs; in every member each width->width layer's centre tap W has W^T W = I (atol 1e-5) and every
  other tap is exactly zero; the first layer's centre tap (1 -> 8 channels) is a unit row."""
  module = convnets.DeepCNN(width=8, depth=2, downsample=1)
  assert module.activation == "tanh"
  model = protocol.of(module)
  x = jnp.zeros((2, 28, 28, 1))
  assert model.output_shape(x) == (2, 10)
  rule_set = json.dumps({"layer_*/kernel": "delta_orthogonal", "*/bias": "zeros",
                         "readout/kernel": "glorot_normal"})
  drawn = pop.init_params(model, [pop.Member(rule_set, seed) for seed in (0, 1)], (28, 28, 1),
                          host=True)
  params = drawn["params"]
  assert sorted(params) == ["layer_0", "layer_1", "layer_2", "layer_3", "readout"]
  for m in range(2):
    first = np.asarray(params["layer_0"]["kernel"][m], np.float64)
    assert first.shape == (3, 3, 1, 8)
    np.testing.assert_allclose(np.linalg.norm(first[1, 1, 0]), 1.0, atol=1e-6)
    for i in (1, 2, 3):
      w = np.asarray(params[f"layer_{i}"]["kernel"][m], np.float64)
      assert w.shape == (3, 3, 8, 8)
      np.testing.assert_allclose(w[1, 1].T @ w[1, 1], np.eye(8), atol=1e-5, err_msg=f"layer_{i}")
      off = w.copy()
      off[1, 1] = 0
      assert not off.any(), f"layer_{i}"
  assert not np.allclose(params["layer_1"]["kernel"][0], params["layer_1"]["kernel"][1])
  assert not np.asarray(params["layer_1"]["bias"]).any()


# ------------------------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_decoder_sweep_members_equal_each_member_trained_alone(tmp_path) -> None:
  """A sweep (library entry: configure + run) of the Decoder on modular(p=11, train_fraction=0.5),
  gpt2(depth=1) and mup_init x 2 seeds, 3 epochs of batches of 30: every member's trained
  parameters and every epoch's metrics equal the same member trained alone (train.train_one) to
  float32 rounding (rtol 2e-4, atol 2e-5: batched and unbatched matmuls round differently), and
  training moved the parameters away from their initial draw. Slow: the population's, the single
  member's and the draws' programs compile for ~25 s on a 2-core CPU."""
  from jaxinit.studies import sweep

  config = sweep.configure(
      "modular(p=11, train_fraction=0.5)", "jaxinit.nets.transformer:Decoder",
      model_args=json.dumps({"vocab": 12, "width": 32, "depth": 1, "heads": 2, "outputs": 11}),
      schemes=("gpt2(depth=1)", "mup_init"), seeds=(0, 1), train={"epochs": 3, "batch_size": 30})
  result = sweep.run(config, tmp_path / "run", quiet=True, figures=False)
  assert result.record["status"] == "finished" and result.record["epochs_done"] == 3
  assert [row["scheme"] for row in result.table] == ["gpt2(depth=1)", "mup_init"]
  trained = sweep.final_params(tmp_path / "run")
  rows = records.read_records(tmp_path / "run" / "records.jsonl")
  assert len(rows) == 4 * 3
  ds = datasets.load(config.data, seed=config.data_seed, normalize=config.normalize)
  net = config.net(ds.x_train)
  data = tr.device_data(ds)
  members = config.members()
  initial = protocol.flat_paths(pop.init_params(net, members, ds.feature_shape, host=True)["params"])
  population = protocol.flat_paths(trained)
  for k, member in enumerate(members):
    state, metrics = tr.train_one(net, config.train, member, data)
    alone = protocol.flat_paths(jax.tree.map(np.asarray, state.params))
    assert list(alone) == list(population)
    for path, value in alone.items():
      np.testing.assert_allclose(population[path][k], value, rtol=2e-4, atol=2e-5,
                                 err_msg=f"member {k} ({member.scheme}, seed {member.seed}) {path}")
    recorded = np.asarray([[r[m] for m in records.METRICS] for r in rows if r["member"] == k])
    np.testing.assert_allclose(recorded, metrics, rtol=2e-4, atol=2e-5, err_msg=f"member {k}")
    moved = np.abs(population["readout/kernel"][k] - initial["readout/kernel"][k])
    assert moved.max() > 1e-3, k
  # Each member ran its own scheme: mup_init (members 2, 3) starts its readout at zero, gpt2 does not.
  assert not initial["readout/kernel"][2:].any() and initial["readout/kernel"][:2].all(axis=(1, 2)).all()


@pytest.mark.slow  # compiles an init program with SVDs: the fast suite has no room
def test_mimetic_products_are_the_papers_targets() -> None:
  """Trockman & Kolter 2023: per head, W_q^h and W_k^h are U_k S_k^(1/2) and V_k S_k^(1/2) of one
  SVD (so W_q^T W_q = W_k^T W_k = diag(S_k), exactly up to float32), their product positive on the
  diagonal (beta1 I); over all heads W_v W_o = alpha2 Z - beta2 I: its diagonal's mean is -beta2
  within 4 SE of the N(0, alpha2^2 / d) entries and its off-diagonal std alpha2 / sqrt(d) within 5%;
  the MLP keeps the base draw; the name round-trips."""
  scheme = schemes.get("mimetic(beta2=0.5)")
  assert schemes.get(scheme.name).name == scheme.name
  d, heads = 64, 4
  model = protocol.of(transformer.Decoder(vocab=20, width=d, depth=1, heads=heads))
  variables = pop.init_params(model, [pop.Member(scheme.name, s) for s in range(2)], (6,),
                              host=True)
  flat = protocol.flat_paths(variables["params"])
  for m in range(2):
    q, k = flat["block_0/attn/query/kernel"][m], flat["block_0/attn/key/kernel"][m]
    for h in range(heads):
      gq, gk = q[:, h].T @ q[:, h], k[:, h].T @ k[:, h]
      np.testing.assert_allclose(gq, np.diag(np.diag(gq)), atol=2e-5)
      np.testing.assert_allclose(gq, gk, atol=2e-5)
      assert np.trace(q[:, h] @ k[:, h].T) > 0
    v, o = flat["block_0/attn/value/kernel"][m], flat["block_0/attn/out/kernel"][m]
    vo = v.reshape(d, d) @ o.reshape(d, d)
    off = vo[~np.eye(d, dtype=bool)]
    assert np.diag(vo).mean() == pytest.approx(-0.5, abs=4 * 0.4 / d)
    assert off.std() == pytest.approx(0.4 / np.sqrt(d), rel=0.05)
  fc = flat["block_0/mlp/fc/kernel"]
  assert fc.std() == pytest.approx(1 / np.sqrt(d), rel=0.05)  # lecun_normal, fan_in d
