"""The compiled programs that draw a population's initial variables, one member after another.

* **Shared, one per architecture and set of base draws**: the schemes whose every kernel and bias
  initializer is an :class:`jaxinit.initializers.base.Affine` draw, ``offset + scale * base`` (zeros,
  constants, normal, uniform, truncated normal, the Glorot/LeCun/He family, ``critical(...)``),
  are drawn by one program: each layer's base draw is chosen by data (``lax.switch`` over the
  bases the population uses, besides constants) and its scale and offset are data. Every mix of
  zeros, constants and the ``*_normal`` schemes is one program, so a second population of such
  schemes compiles nothing. The draws are the schemes' own, bit for bit (tested against
  :func:`per_scheme` and a plain ``model.init``).
* **Per scheme**: the others (orthogonal, delta-orthogonal, identity, the data-dependent ones) get
  one program per (architecture, scheme).
* **Any model** (:func:`general`): a model in the pure form (:mod:`jaxinit.nets.protocol`) and a
  scheme as rules by parameter path (:mod:`jaxinit.schemes.rules`): the model's own init, the
  rules' redraw, the refinement on any model (LSUV); every weight (a parameter of rank >= 2) times
  the member's scale.

All are ``jit(lax.map(one member))`` over seeds ``(G,)`` and scales ``(G,)`` (every weight is
multiplied by its member's scale: :func:`scale_weights`), with the batch ``x`` a data-dependent
refinement sees.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import schemes as scheme_registry
from jaxinit.initializers.base import Affine, flat
from jaxinit.initializers.distributions import standard_truncated
from jaxinit.nets import models, protocol
from jaxinit.schemes import rules

__all__ = ["REFINE_STREAM", "Forms", "Signature", "forms", "pack", "shared", "layer_shapes",
           "per_scheme", "general", "scale_weights"]

REFINE_STREAM = 0x5EED
"""A data-dependent scheme's refinement (MetaInit's random batches) uses ``fold_in(key(seed),
REFINE_STREAM)``, a stream apart from the layers' init keys."""


@functools.lru_cache(maxsize=64)
def layer_shapes(config: models.ModelConfig, input_shape: tuple[int, ...]
                 ) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
  """Each layer's ``(kernel shape, bias shape)``, in layer order."""
  shapes: dict[tuple[int, str], tuple[int, ...]] = {}

  def record(i: int, role: str) -> Any:
    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
      shapes[i, role] = tuple(shape)
      return jnp.zeros(shape, dtype)
    return init

  n = config.depth
  model = models.build(config, kernel_init=[record(i, "kernel") for i in range(n)],
                       bias_init=[record(i, "bias") for i in range(n)])
  jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *input_shape), jnp.float32))
  return tuple((shapes[i, "kernel"], shapes[i, "bias"]) for i in range(n))


Forms = tuple[tuple[Affine, Affine], ...]
"""A scheme's draw per layer: ``((kernel, bias), ...)`` as :class:`Affine` forms."""

Signature = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
"""Per layer and role, the base draws a :func:`shared` program can pick from besides a constant."""


def forms(config: models.ModelConfig, input_shape: tuple[int, ...], scheme: str) -> Forms | None:
  """A scheme's layers as :class:`Affine` forms, or None if :func:`shared` cannot draw it bit for
  bit as the scheme's own program does: a scheme with a refinement, an initializer without an
  affine form, a truncated normal cut elsewhere than at 2 standard deviations, or a random draw of
  a single entry."""
  s = scheme_registry.get(scheme)
  if s.refine is not None or s.rules is not None:
    return None
  shapes = layer_shapes(config, input_shape)
  kernels, biases = s.layer_inits(config.depth)
  layers = tuple((k.affine(k_shape), b.affine(b_shape))
                 for k, b, (k_shape, b_shape) in zip(kernels, biases, shapes, strict=True))
  for layer, layer_shape in zip(layers, shapes, strict=True):
    for f, shape in zip(layer, layer_shape, strict=True):
      # A one-entry draw (a single output's bias): XLA folds the initializer's constant scale
      # into the sampler's own constant there, which a data scale cannot mimic (1 ulp off).
      if f is None or f.bound != 2.0 or (f.base != "constant" and math.prod(shape) == 1):
        return None
  return layers


def pack(members: Sequence[Forms]) -> tuple[Signature, np.ndarray, np.ndarray]:
  """The data of :func:`shared` for ``G`` members' forms.

  Returns:
    ``(signature, base (G, L, 2) int32, coef (G, L, 2, 4) float32)``: the program's signature,
    each member's draw per layer and role (0: a constant, ``1 + j``: the signature's ``j``-th
    base), and ``(scale, offset, low, high)``.
  """
  depth = len(members[0])
  signature = tuple(tuple(tuple(sorted({m[i][r].base for m in members} - {"constant"}))
                          for r in range(2)) for i in range(depth))
  base = np.asarray([[[1 + signature[i][r].index(f.base) if f.base != "constant" else 0
                       for r, f in enumerate(layer)] for i, layer in enumerate(m)]
                     for m in members], np.int32)
  coef = np.asarray([[[(f.scale, f.offset, f.low, f.high) for f in layer] for layer in m]
                     for m in members], np.float32)
  return signature, base, coef


@functools.partial(jax.jit, static_argnums=(0, 1))
def _draw(base: str, shape: tuple[int, ...], key: jax.Array, coef: jax.Array) -> jax.Array:
  """``offset + scale * base draw``, a jitted call as the initializer's own draw is
  (:func:`jaxinit.initializers.base.from_draw`), so that XLA fuses the scaling into the sampler as it
  does there: the same bits (a draw materialized first, then scaled, rounds differently)."""
  f32 = jnp.float32
  scale, offset, low, high = coef
  if base == "constant":
    return jnp.full(shape, offset, f32)
  if base == "normal":
    z = flat(jax.random.normal, key, shape, f32)
  elif base == "uniform":
    z = flat(jax.random.uniform, key, shape, f32, low, high)
  else:
    z = standard_truncated(key, shape, f32)  # cut at 2: forms() sends other cuts elsewhere
  return offset + z * scale


@functools.lru_cache(maxsize=32)
def shared(config: models.ModelConfig, signature: Signature) -> Any:
  """``jit(map(init))`` for the :class:`Affine` schemes of one architecture whose base draws are
  in ``signature`` (e.g. any mix of zeros, constants, normal and the ``*_normal`` schemes).

  Returns:
    ``f(seeds (G,) uint32, base (G, L, 2) int32, coef (G, L, 2, 4) float32, scales (G,), x)`` ->
    the stacked variables (leaves ``(G, ...)``); ``base`` and ``coef`` from :func:`pack`, ``x`` a
    batch whose shape gives the input shape.
  """

  def one(seed: jax.Array, base: jax.Array, coef: jax.Array, scale: jax.Array, x: jax.Array
          ) -> dict:
    def slot(i: int, r: int) -> Any:
      def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        # A switch even for one draw: each branch is its own XLA computation, as the
        # initializer's own program is, so the draw rounds as there (fused into the rest of the
        # program, XLA may fold the data scale differently: 1 ulp off in some entries).
        branches = [functools.partial(_draw, b, tuple(shape))
                    for b in ("constant", *signature[i][r])]
        return jax.lax.switch(base[i, r], branches, key, coef[i, r]).astype(dtype)
      return init

    n = config.depth
    model = models.build(config, kernel_init=[slot(i, 0) for i in range(n)],
                         bias_init=[slot(i, 1) for i in range(n)])
    variables = model.init(jax.random.key(seed), x[:1])
    return {**variables, "params": scale_weights(variables["params"], scale)}

  def shared_init(seeds: jax.Array, base: jax.Array, coef: jax.Array, scales: jax.Array,
                  x: jax.Array) -> dict:
    return jax.lax.map(lambda a: one(*a, x), (seeds, base, coef, scales))

  return jax.jit(shared_init)


@functools.lru_cache(maxsize=64)
def per_scheme(config: models.ModelConfig, scheme: str) -> Any:
  """``jit(map(init))`` for one (architecture, scheme): ``f(seeds (G,), scales (G,), x)`` -> the
  stacked variables; ``x`` the batch the scheme's refinement sees (its shape gives the input
  shape)."""
  s = scheme_registry.get(scheme)
  kernels, biases = s.layer_inits(config.depth)
  model = models.build(config, kernel_init=kernels, bias_init=biases)

  def one(seed: jax.Array, scale: jax.Array, x: jax.Array) -> dict:
    key = jax.random.key(seed)
    variables = model.init(key, x[:1])
    if s.refine is not None:
      variables = s.refine(model, variables, jax.random.fold_in(key, REFINE_STREAM), x)
    return {**variables, "params": scale_weights(variables["params"], scale)}

  return _one_after_another(one)


def _one_after_another(one: Any) -> Any:
  """``jit(f(seeds (G,), scales (G,), x))`` drawing ``one(seed, scale, x)`` for each member.

  ``lax.map``, not ``vmap``: members are drawn one after another by the unbatched program, so a
  member's draw is the very computation it gets alone. (It also avoids an XLA CPU hang seen with
  jax 0.10.2: ``jit(vmap)`` of six or more QR decompositions, as in a deep orthogonal MLP, never
  returns.)"""
  def init(seeds: jax.Array, scales: jax.Array, x: jax.Array) -> dict:
    return jax.lax.map(lambda a: one(*a, x), (seeds, scales))

  return jax.jit(init)


@functools.lru_cache(maxsize=64)
def general(model: protocol.Model, scheme: str, input_shape: tuple[int, ...]) -> Any:
  """``jit(map(init))`` for any model and a scheme it can take (:meth:`Scheme.rule_set`):
  ``f(seeds (G,), scales (G,), x) -> the stacked variables``. A member is ``model.init(key(seed))``,
  its parameters redrawn by the rules (:func:`jaxinit.schemes.rules.draw`), refined (LSUV on the
  batch ``x``), every weight times its scale (:func:`scale_weights`).

  Raises:
    ValueError: a scheme that cannot initialize an arbitrary model.
  """
  s = scheme_registry.get(scheme)
  rule_set = s.rule_set()
  if s.refine is not None and s.refine_any is None:
    raise ValueError(f"scheme {s.name!r} has no refinement for an arbitrary model")

  def one(seed: jax.Array, scale: jax.Array, x: jax.Array) -> dict:
    key = jax.random.key(seed)
    variables = rules.draw(rule_set, model, model.init(key, x[:1]), key, input_shape)
    if s.refine_any is not None:
      variables = s.refine_any(model, variables, jax.random.fold_in(key, REFINE_STREAM), x)
    return {**variables, "params": scale_weights(variables["params"], scale)}

  return _one_after_another(one)


def scale_weights(params: dict, scale: jax.Array) -> dict:
  """Every weight (a leaf of rank >= 2: kernels, conv filters, embedding tables; in the built-in
  models exactly the kernels) times ``scale``; vectors and scalars (biases, normalization
  parameters, gates) are not scaled. One rounding after the draw: the barrier keeps XLA from fusing
  the product into the draw's own scaling, where it would round differently per program."""
  params = jax.lax.optimization_barrier(params)
  return jax.tree.map(lambda x: x * scale.astype(x.dtype) if x.ndim >= 2 else x, params)
