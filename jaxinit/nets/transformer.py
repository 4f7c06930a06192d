r"""Transformers in the model zoo: a decoder-only language model and a patch encoder (ViT-style), and
an MLP over token embeddings (:class:`TokenMLP`) for the same token tasks.

Both are ordinary ``flax.linen`` modules that go through :mod:`jaxinit.nets.protocol` as a user's
model does (``--model jaxinit.nets.transformer:Decoder --model-args '{"vocab": 98, ...}'``), built
from one :class:`Block`:

.. math::

    \text{pre-LN:}\quad x \leftarrow a\,x + m\,f(\mathrm{LN}(x)), \qquad
    \text{post-LN:}\quad x \leftarrow \mathrm{LN}(a\,x + m\,f(x)), \qquad
    \text{none:}\quad x \leftarrow a\,x + m\,f(x),

for each branch ``f`` (causal self-attention, then the MLP), with the branch multiplier ``m``
(``branch_multiplier``) and the skip multiplier ``a`` (``skip_multiplier``: DeepNorm's alpha, Wang et
al. 2022). Attention logits are ``scale * q . k`` with ``scale`` = ``1/sqrt(d_head)`` (Vaswani et al.
2017) or ``1/d_head`` (muP, Yang et al. 2022, Tensor Programs V, §4).

**Parameter paths** (what init rules match, :mod:`jaxinit.schemes.rules`): ``embed/embedding``
``(vocab, d)``, ``position`` ``(T, d)``, ``block_<l>/attn/{query,key,value}/kernel``
``(d, heads, d_head)``, ``block_<l>/attn/out/kernel`` ``(heads, d_head, d)``,
``block_<l>/mlp/fc/kernel`` ``(d, r d)``, ``block_<l>/mlp/proj/kernel`` ``(r d, d)``,
``block_<l>/{ln_attn,ln_mlp}/{scale,bias}``, ``ln_final/...`` and ``readout/kernel`` (untied).
Biases sit beside every kernel (``use_bias``). Each attention layer sows its logits
(``block_<l>/attn/logits``, ``(B, heads, T, T)``) for coordinate checks.

**Inputs.** The engine's inputs are float32 arrays, so token ids arrive as float32 values (exact below
``2^24``) and :class:`Decoder` casts them to int32; its output is the logits at the last position
``(B, outputs)``: the next-token prediction a task asks for (modular arithmetic, associative recall,
:mod:`jaxinit.data`). :class:`PatchEncoder` cuts ``(B, H, W, C)`` images into ``patch x patch``
patches (MNIST: 16 patches of 7 x 7), embeds them linearly, attends without a mask, and reads out
the mean over patches.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinit import activations

__all__ = ["Decoder", "PatchEncoder", "TokenMLP", "Block", "Attention", "NORMS", "ATTENTION_SCALES",
           "attention_scale"]

NORMS = ("pre", "post", "none")
"""Where LayerNorm sits: before each branch (pre-LN, GPT-2), after each residual sum (post-LN, the
original Transformer and DeepNorm), or nowhere (T-Fixup)."""
ATTENTION_SCALES = ("1/sqrt(d_head)", "1/d_head")
"""The attention logit scales: the standard one and muP's."""


def attention_scale(name: str, d_head: int) -> float:
  """The factor on ``q . k``: ``1/sqrt(d_head)`` or ``1/d_head``.

  >>> attention_scale("1/d_head", 16), attention_scale("1/sqrt(d_head)", 16)
  (0.0625, 0.25)
  """
  if name not in ATTENTION_SCALES:
    raise ValueError(f"attention_scale={name!r}; accepted: {', '.join(ATTENTION_SCALES)}")
  return 1.0 / d_head if name == "1/d_head" else 1.0 / math.sqrt(d_head)


def _check(width: int, heads: int, norm: str, attention: str) -> None:
  if norm not in NORMS:
    raise ValueError(f"norm={norm!r}; accepted: {', '.join(NORMS)}")
  attention_scale(attention, 1)
  if heads < 1 or width % heads:
    raise ValueError(f"width {width} is not a multiple of heads={heads}; accepted: heads >= 1 "
                     "dividing the width")


class Attention(nn.Module):
  r"""Multi-head self-attention, written out: ``softmax(scale * q k^T + mask) v``, then ``out``.

  ``(B, T, d) -> (B, T, d)``; ``q, k, v = x W_{q,k,v}`` with ``W`` of shape ``(d, heads, d_head)``;
  ``mask`` is ``-inf`` above the diagonal when ``causal``. Sows the logits ``(B, heads, T, T)``.
  """

  heads: int
  scale: str = "1/sqrt(d_head)"
  causal: bool = True
  use_bias: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    d = x.shape[-1]
    d_head = d // self.heads

    def proj(name: str) -> jax.Array:
      return nn.DenseGeneral((self.heads, d_head), use_bias=self.use_bias, dtype=self.dtype,
                             name=name)(x)

    q, k, v = proj("query"), proj("key"), proj("value")
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) * attention_scale(self.scale, d_head)
    self.sow("intermediates", "logits", logits)
    if self.causal:
      t = x.shape[-2]
      logits = jnp.where(jnp.tril(jnp.ones((t, t), bool)), logits, jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
    mixed = jnp.einsum("bhqk,bkhd->bqhd", weights, v)
    return nn.DenseGeneral(d, axis=(-2, -1), use_bias=self.use_bias, dtype=self.dtype,
                           name="out")(mixed)


class MLP(nn.Module):
  """The block's MLP: ``Dense(ratio * d) -> activation -> Dense(d)`` (``fc``, ``proj``)."""

  ratio: int = 4
  activation: str = "gelu"
  use_bias: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    d = x.shape[-1]
    h = nn.Dense(self.ratio * d, use_bias=self.use_bias, dtype=self.dtype, name="fc")(x)
    h = activations.get(self.activation)(h)
    return nn.Dense(d, use_bias=self.use_bias, dtype=self.dtype, name="proj")(h)


class Block(nn.Module):
  """One transformer block: attention then MLP, each a residual branch placed by ``norm`` (module
  docstring)."""

  heads: int
  norm: str = "pre"
  attention: str = "1/sqrt(d_head)"
  causal: bool = True
  mlp_ratio: int = 4
  activation: str = "gelu"
  branch_multiplier: float = 1.0
  skip_multiplier: float = 1.0
  use_bias: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    branches = (("attn", Attention(self.heads, self.attention, self.causal, self.use_bias,
                                   self.dtype, name="attn")),
                ("mlp", MLP(self.mlp_ratio, self.activation, self.use_bias, self.dtype,
                            name="mlp")))
    for name, f in branches:
      if self.norm == "pre":
        x = self.skip_multiplier * x + self.branch_multiplier * f(
            nn.LayerNorm(dtype=self.dtype, name=f"ln_{name}")(x))
      else:
        x = self.skip_multiplier * x + self.branch_multiplier * f(x)
        if self.norm == "post":
          x = nn.LayerNorm(dtype=self.dtype, name=f"ln_{name}")(x)
    return x


class _Trunk(nn.Module):
  """Shared fields of the two transformers (see :class:`Decoder`)."""

  width: int = 64
  depth: int = 2
  heads: int = 4
  mlp_ratio: int = 4
  norm: str = "pre"
  attention: str = "1/sqrt(d_head)"
  activation: str = "gelu"
  branch_multiplier: float = 1.0
  skip_multiplier: float = 1.0
  use_bias: bool = True
  dtype: Any = None

  def blocks(self, h: jax.Array, causal: bool) -> jax.Array:
    _check(self.width, self.heads, self.norm, self.attention)
    for i in range(self.depth):
      h = Block(self.heads, self.norm, self.attention, causal, self.mlp_ratio, self.activation,
                self.branch_multiplier, self.skip_multiplier, self.use_bias, self.dtype,
                name=f"block_{i}")(h)
    if self.norm == "pre":  # pre-LN leaves the stream unnormalized: one LayerNorm before the readout
      h = nn.LayerNorm(dtype=self.dtype, name="ln_final")(h)
    return h

  def position(self, h: jax.Array) -> jax.Array:
    table = self.param("position", nn.initializers.normal(0.02), h.shape[-2:], jnp.float32)
    return h + table.astype(h.dtype)


class Decoder(_Trunk):
  """A decoder-only transformer (GPT-style): token ids ``(B, T)`` -> next-token logits ``(B, outputs)``
  at the last position.

  Attributes:
    vocab: the number of token ids.
    outputs: the readout's size (default ``vocab``; a task with fewer classes may read out fewer).
    width: ``d_model``; depth: blocks; heads: attention heads (``width % heads == 0``);
    mlp_ratio: the MLP's hidden width over ``d_model``; norm: one of :data:`NORMS`;
    attention: one of :data:`ATTENTION_SCALES`; activation: the MLP's (:mod:`jaxinit.activations`);
    branch_multiplier, skip_multiplier: ``m`` and ``a`` of the module docstring;
    tied: read out through the token embedding's transpose (then ``outputs`` must be ``vocab``);
    use_bias: biases in every dense layer; dtype: the computation dtype.

  The position embedding is learned (``N(0, 0.02^2)`` as GPT-2), the token embedding Flax's default
  ``N(0, 1/d)``, the dense layers LeCun normal (Flax's default), biases zero.
  """

  vocab: int = 16
  outputs: int | None = None
  tied: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 2:
      raise ValueError(f"Decoder input must be token ids of shape (B, T); got shape {x.shape}")
    outputs = self.vocab if self.outputs is None else self.outputs
    if self.tied and outputs != self.vocab:
      raise ValueError(f"a tied readout has vocab={self.vocab} outputs; got outputs={outputs}")
    embed = nn.Embed(self.vocab, self.width, dtype=self.dtype, name="embed")
    h = self.position(embed(x.astype(jnp.int32)))
    h = self.blocks(h, causal=True)[:, -1]
    if self.tied:
      return embed.attend(h)
    return nn.Dense(outputs, use_bias=self.use_bias, dtype=self.dtype, name="readout")(h)


class PatchEncoder(_Trunk):
  """A ViT-style encoder: images ``(B, H, W, C)`` -> ``(H/p)(W/p)`` patches of ``p x p x C`` ->
  ``Dense(width)`` (``embed``) + learned positions -> blocks without a mask -> mean over patches ->
  ``Dense(outputs)`` (``readout``).

  Attributes:
    patch: the patch side ``p`` (must divide H and W; MNIST: 7 gives 16 patches of 49 pixels).
    outputs: the number of classes.
    the rest: as :class:`Decoder`.
  """

  patch: int = 7
  outputs: int = 10

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 4 or x.shape[1] % self.patch or x.shape[2] % self.patch:
      raise ValueError(f"PatchEncoder input must be images (B, H, W, C) with H and W multiples of "
                       f"patch={self.patch}; got shape {x.shape}")
    b, hh, ww, c = x.shape
    p = self.patch
    patches = x.reshape(b, hh // p, p, ww // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    patches = patches.reshape(b, (hh // p) * (ww // p), p * p * c)
    h = self.position(nn.Dense(self.width, use_bias=self.use_bias, dtype=self.dtype,
                               name="embed")(patches))
    h = self.blocks(h, causal=False).mean(axis=1)
    return nn.Dense(self.outputs, use_bias=self.use_bias, dtype=self.dtype, name="readout")(h)


class TokenMLP(nn.Module):
  """An MLP over token embeddings, the grokking studies' other model (Liu et al. 2022, "Towards
  Understanding Grokking", and "Omnigrok"): token ids ``(B, T)`` -> ``embed`` each ``(B, T, d)`` ->
  concatenate ``(B, T d)`` -> ``depth`` hidden ``Dense(width)`` + activation (``hidden_<i>``) ->
  ``Dense(outputs)`` (``readout``).

  Attributes:
    vocab: the number of token ids; embed: the embedding width ``d``; width, depth: the hidden
    layers; activation: theirs (:mod:`jaxinit.activations`); outputs: the readout's size;
    dtype: the computation dtype.
  """

  vocab: int = 16
  embed: int = 32
  width: int = 128
  depth: int = 1
  activation: str = "relu"
  outputs: int = 16
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 2:
      raise ValueError(f"TokenMLP input must be token ids of shape (B, T); got shape {x.shape}")
    h = nn.Embed(self.vocab, self.embed, dtype=self.dtype, name="embed")(x.astype(jnp.int32))
    h = h.reshape(x.shape[0], -1)
    act = activations.get(self.activation)
    for i in range(self.depth):
      h = act(nn.Dense(self.width, dtype=self.dtype, name=f"hidden_{i}")(h))
    return nn.Dense(self.outputs, dtype=self.dtype, name="readout")(h)
