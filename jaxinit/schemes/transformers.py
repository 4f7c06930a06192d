r"""Transformer initializations by name, each a rule set over the zoo transformers' parameter paths.

Each factory returns an init :class:`jaxinit.schemes.rules.RuleSet` for
:class:`jaxinit.nets.transformer.Decoder` and :class:`~jaxinit.nets.transformer.PatchEncoder`
(their paths: that module's docstring); the scheme catalog names them (``--schemes
"gpt2(depth=4)"``), so they round-trip into a table. On a user's transformer, write the same rules
over its own paths. Every bias is zero and every LayerNorm scale as built (one) unless a rule says
otherwise; ``d`` is ``d_model`` and ``L`` the number of blocks. A scheme that changes the
architecture as well says which model argument goes with it.

==========================  ========================================================================
``gpt2(depth)``             every weight N(0, 0.02^2), positions N(0, 0.01^2), the residual
                            output projections (``attn/out``, ``mlp/proj``) N(0, 0.02^2 / (2L))
``t_fixup(depth, width)``   Xavier uniform; embeddings and positions N(0, d^(-1/2)) x
                            (9L)^(-1/4); ``value``, ``out`` and MLP weights Xavier uniform x
                            (9L)^(-1/4); no LayerNorm (``norm="none"``)
``deepnorm(depth)``         Xavier normal with gain beta = (8L)^(-1/4) on ``value``, ``out`` and
                            the MLP, gain 1 on ``query``, ``key``; post-LN with skip multiplier
                            alpha = (2L)^(1/4) (:func:`deepnorm_alpha`)
``small_init(width)``       every weight and embedding N(0, 2 / (5d))
``mup_init``                LeCun normal (1/fan_in), ``query`` and ``readout`` zero: muP's base
                            init (with ``mup(base_width=...)`` and ``attention="1/d_head"``)
``mimetic(...)``            a base draw, then ``W_q W_k^T ~ 0.7 Z + 0.7 I`` per head and
                            ``W_v W_o ~ 0.4 Z - 0.4 I`` (:func:`mimetic_redraw`; the catalog's
                            ``mimetic(alpha1, beta1, alpha2, beta2, base)``)
==========================  ========================================================================
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from jaxinit import names
from jaxinit.nets import protocol
from jaxinit.schemes import rules

__all__ = ["gpt2", "t_fixup", "deepnorm", "deepnorm_alpha", "deepnorm_beta", "small_init",
           "mup_init", "mimetic_redraw", "FACTORIES", "COMMON"]

COMMON = (("*/bias", "zeros"), ("*/scale", rules.AS_BUILT))
"""The rules every transformer scheme starts with: biases zero, LayerNorm scales as built."""
RESIDUAL_OUT = ("*/attn/out/kernel", "*/mlp/proj/kernel")
"""The projections that write into the residual stream."""
EMBEDDINGS = ("embed/*", "position")
"""The input embeddings: the token table (or the patch projection) and the positions."""


def _rule_set(pairs: list[tuple[str, str]]) -> rules.RuleSet:
  """The rules in order, names canonical; not strict: a rule for a leaf the model lacks (no biases,
  no LayerNorm) is not an error, while a leaf without a rule still is."""
  return dataclasses.replace(rules.parse(dict(pairs)), strict=False)


def _depth(owner: str, depth: int) -> int:
  return names.check_int("depth", owner, depth, 1)


def gpt2(depth: int) -> rules.RuleSet:
  r"""GPT-2's initialization (Radford et al. 2019, "Language Models are Unsupervised Multitask
  Learners", §2.3): every weight N(0, 0.02^2) as GPT (Radford et al. 2018), the released code's
  position table N(0, 0.01^2), and "the weights of residual layers scaled by 1/sqrt(N)" with N = 2L
  residual layers (two per block), i.e. ``attn/out`` and ``mlp/proj`` N(0, 0.02^2 / (2L)).
  """
  std = 0.02 / math.sqrt(2 * _depth("gpt2", depth))
  return _rule_set([*COMMON, *((p, f"normal(stddev={std!r})") for p in RESIDUAL_OUT),
                    ("position", "normal(stddev=0.01)"), ("embed/*", "normal(stddev=0.02)"),
                    ("*/kernel", "normal(stddev=0.02)")])


def t_fixup(depth: int, width: int) -> rules.RuleSet:
  r"""T-Fixup for a decoder of ``L`` blocks (Huang, Perez, Ba & Volkovs 2020, "Improving Transformer
  Optimization Through Better Initialization", ICML, Algorithm 1): Xavier uniform for every weight
  but the input embeddings; input embeddings N(0, d^(-1/2)); then the decoder's ``v`` and ``w``
  (``value``, ``out``) of every attention, the weights of every MLP and the input embeddings scaled
  by (9L)^(-1/4). The model has no LayerNorm (``norm="none"``) and no warmup is needed.

  .. math:: \sigma_\text{emb} = d^{-1/4} (9L)^{-1/4}, \qquad
            W_{v,o,\text{mlp}} \sim (9L)^{-1/4}\,U(\pm\sqrt{6 / (n_\text{in} + n_\text{out})})
  """
  c = (9 * _depth("t_fixup", depth)) ** -0.25
  d = names.check_int("width", "t_fixup", width, 1)
  scaled = f"variance_scaling(scale={c * c!r}, mode=fan_avg, distribution=uniform)"
  emb = f"normal(stddev={d ** -0.25 * c!r})"
  return _rule_set([*COMMON, *((p, emb) for p in EMBEDDINGS),
                    ("*/attn/value/kernel", scaled), ("*/attn/out/kernel", scaled),
                    ("*/mlp/*/kernel", scaled), ("*/kernel", "glorot_uniform")])


def deepnorm_alpha(depth: int) -> float:
  """DeepNorm's skip multiplier for a decoder-only (or encoder-only) model of ``L`` blocks:
  ``alpha = (2L)^(1/4)`` (Wang et al. 2022, Table 1).

  >>> round(deepnorm_alpha(8), 6)
  2.0
  """
  return (2 * _depth("deepnorm", depth)) ** 0.25


def deepnorm_beta(depth: int) -> float:
  """DeepNorm's init gain for ``L`` blocks: ``beta = (8L)^(-1/4)`` (Wang et al. 2022, Table 1).

  >>> round(deepnorm_beta(2), 6)
  0.5
  """
  return (8 * _depth("deepnorm", depth)) ** -0.25


def deepnorm(depth: int) -> rules.RuleSet:
  r"""DeepNet's initialization (Wang, Ma, Dong, Huang, Zhang & Wei 2022, "DeepNet: Scaling
  Transformers to 1,000 Layers", Fig. 2 and Table 1, decoder-only): Xavier normal with gain
  ``beta = (8L)^(-1/4)`` on the MLP, ``value`` and ``out``; gain 1 on ``query`` and ``key``; the rest
  (embeddings, readout) as built. Its architecture half is post-LN with the skip multiplied by
  ``alpha = (2L)^(1/4)``: ``Decoder(norm="post", skip_multiplier=deepnorm_alpha(L))``.
  """
  beta = deepnorm_beta(depth)
  scaled = f"glorot_normal(gain={beta!r})"
  return _rule_set([*COMMON, ("*/mlp/*/kernel", scaled), ("*/attn/value/kernel", scaled),
                    ("*/attn/out/kernel", scaled), ("*/attn/query/kernel", "glorot_normal"),
                    ("*/attn/key/kernel", "glorot_normal"), ("*", rules.AS_BUILT)])


def small_init(width: int) -> rules.RuleSet:
  r"""SmallInit (Nguyen & Salazar 2019, "Transformers without Tears: Improving the Normalization of
  Self-Attention", as GPT-NeoX implements it): every weight and embedding N(0, 2 / (5d)), the
  variance Xavier gives a ``d x 4d`` matrix, smaller than the 1/d of LeCun for ``d > 2.5``.
  """
  std = math.sqrt(2.0 / (5 * names.check_int("width", "small_init", width, 1)))
  return _rule_set([*COMMON, *((p, f"normal(stddev={std!r})") for p in EMBEDDINGS),
                    ("*/kernel", f"normal(stddev={std!r})")])


def mup_init() -> rules.RuleSet:
  r"""muP's base initialization for a transformer (Yang et al. 2022, "Tensor Programs V", §4 and
  Table 3 with its zero-init recommendations): every weight LeCun normal (variance 1/fan_in, the
  embedding's fan-in being its vocabulary), the ``query`` projection zero (uniform attention at
  init) and the readout zero; positions as built. Use it with ``mup(base_width=...)`` (the width
  scaling of the readout multiplier and Adam's per-layer learning rates) and
  ``attention="1/d_head"``.
  """
  return _rule_set([*COMMON, ("*/attn/query/kernel", "zeros"), ("readout/kernel", "zeros"),
                    ("position", rules.AS_BUILT), ("embed/*", "lecun_normal"),
                    ("*/kernel", "lecun_normal")])


FACTORIES = {f.__name__: f for f in (gpt2, t_fixup, deepnorm, small_init, mup_init)}
"""The transformer schemes by name."""


def _factor_pair(key: jax.Array, d: int, k: int, alpha: float, beta: float
                 ) -> tuple[jax.Array, jax.Array]:
  """``(A, B)``, both ``(d, k)``, with ``A B^T`` the best rank-``k`` approximation of
  ``alpha Z + beta I``, ``Z ~ N(0, 1/d)``: the SVD ``U S V^T`` split as ``A = U_k S_k^(1/2)``,
  ``B = V_k S_k^(1/2)``."""
  z = jax.random.normal(key, (d, d)) / math.sqrt(d)
  u, s, vt = jnp.linalg.svd(alpha * z + beta * jnp.eye(d))
  root = jnp.sqrt(s[:k])
  return u[:, :k] * root, vt[:k].T * root


def mimetic_redraw(params: dict, key: jax.Array, alpha1: float = 0.7, beta1: float = 0.7,
                   alpha2: float = 0.4, beta2: float = 0.4) -> dict:
  r"""Mimetic initialization of every attention layer (Trockman & Kolter 2023, "Mimetic
  Initialization of Self-Attention Layers", ICML, §3): the products pretrained attention shows,

  .. math:: W_q^h {W_k^h}^\top \approx \alpha_1 Z_1 + \beta_1 I, \qquad
            W_v W_o \approx \alpha_2 Z_2 - \beta_2 I, \qquad Z_i \sim N(0, 1/d),

  the query-key product per head from the SVD of its own ``d x d`` target (rank ``d_head``), the
  value-output product over all heads at once (rank ``d``). Leaves at
  ``.../attn/{query,key,value,out}/kernel`` (:class:`jaxinit.nets.transformer.Attention`'s
  layout) are replaced; every other leaf is kept. The defaults are the paper's ViT values.

  Raises:
    ValueError: no attention layer at those paths.
  """
  flat = dict(protocol.flat_paths(params))
  blocks = sorted(p.removesuffix("/query/kernel") for p in flat if p.endswith("attn/query/kernel"))
  if not blocks:
    raise ValueError("mimetic: no attention layer (no '.../attn/query/kernel' leaf); accepted: a "
                     "model with jaxinit.nets.transformer.Attention's parameter paths")
  for i, attn in enumerate(blocks):
    d, heads, k = flat[f"{attn}/query/kernel"].shape
    kq, kv = jax.random.split(jax.random.fold_in(key, i))
    pairs = [_factor_pair(hk, d, k, alpha1, beta1) for hk in jax.random.split(kq, heads)]
    dtype = flat[f"{attn}/query/kernel"].dtype
    flat[f"{attn}/query/kernel"] = jnp.stack([a for a, _ in pairs], 1).astype(dtype)
    flat[f"{attn}/key/kernel"] = jnp.stack([b for _, b in pairs], 1).astype(dtype)
    v, o = _factor_pair(kv, d, d, alpha2, -beta2)
    flat[f"{attn}/value/kernel"] = v.reshape(d, heads, k).astype(dtype)
    flat[f"{attn}/out/kernel"] = o.T.reshape(heads, k, d).astype(dtype)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  return jax.tree_util.tree_unflatten(
      treedef, [flat[protocol.path_str(path)] for path, _ in leaves])
