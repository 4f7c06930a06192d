"""Initializers that look at data or at the network: LSUV and MetaInit, acting on a params pytree.

Both are pure functions of ``(model, variables, ...)`` written with ``lax`` control flow, so they run
under ``jit`` and ``vmap``: a whole population gets its own LSUV or MetaInit, each member from its own
start and key, in one call. :mod:`jaxinit.schemes` wraps them (and ``critical(activation)``) as
population schemes with canonical names.

Layers are the model's ``layer_<i>`` submodules (:mod:`jaxinit.nets.models`), in order; a kernel is a
params leaf named ``kernel``.

References:
  Mishkin & Matas, *All you need is a good init* (ICLR 2016): LSUV.
  Dauphin & Schoenholz, *MetaInit: Initializing learning by learning to initialize* (NeurIPS 2019);
  the defaults follow init2winit's ``meta_init`` (50 steps, lr 0.1, batch 8, eps 1e-5, momentum 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinit.nets import models, protocol

__all__ = ["LSUVResult", "MetaInitResult", "layer_names", "lsuv", "lsuv_any", "lsuv_weights",
           "metainit", "gradient_quotient"]


def layer_names(variables: dict) -> list[str]:
  """The ``layer_<i>`` names of ``variables["params"]``, in layer order."""
  names = [k for k in variables["params"] if k.startswith("layer_")]
  return sorted(names, key=lambda k: int(k.split("_")[1]))


def _apply_capturing(model: nn.Module, variables: dict, x: jax.Array, name: str) -> jax.Array:
  """The output of submodule ``name`` (before any BatchNorm and nonlinearity) on batch ``x``.

  With BatchNorm the network runs in training mode (batch statistics), as it will train; the
  updated running statistics are discarded."""
  train = "batch_stats" in variables
  mutable = ["intermediates", "batch_stats"] if train else ["intermediates"]
  _, state = model.apply(variables, x, train=train, mutable=mutable,
                         capture_intermediates=lambda mdl, _: mdl.name == name)
  return state["intermediates"][name]["__call__"][0]


def _scale_kernel(variables: dict, name: str, factor: jax.Array) -> dict:
  layer = dict(variables["params"][name])
  layer["kernel"] = layer["kernel"] * factor.astype(layer["kernel"].dtype)
  return {**variables, "params": {**variables["params"], name: layer}}


class LSUVResult(NamedTuple):
  """What :func:`lsuv` returns.

  Attributes:
    variables: the rescaled variables.
    variance: ``(L,)``, each layer's output variance on the batch when its loop stopped.
    iterations: ``(L,)``, the number of rescalings each layer took (0 when it was already within tol).
  """

  variables: dict
  variance: jax.Array
  iterations: jax.Array


def lsuv(model: nn.Module, variables: dict, x: jax.Array, tol: float = 0.1, t_max: int = 10
         ) -> LSUVResult:
  """Layer-sequential unit-variance rescaling (Mishkin & Matas 2016, Algorithm 1, after the start).

  For each layer in order: forward ``x``, take the variance ``v`` of the layer's output (all its
  entries: batch, positions and channels); while ``|v - 1| >= tol`` and fewer than ``t_max``
  rescalings were made, divide the kernel by ``sqrt(v)`` and forward again. Biases are left as they
  are. A layer whose output variance is 0 or not finite is left unchanged (its ``variance`` says so).
  The orthonormal start is the caller's (the ``lsuv`` scheme draws it with its ``base``).

  Args:
    model: a :class:`jaxinit.nets.models.MLP` or ``CNN`` (static).
    variables: its ``{"params": ..., ["batch_stats": ...]}``, one member (vmap for a population).
    x: the data batch, shape ``(B, *input_shape)``.
    tol: stop when ``|Var - 1| < tol`` (static).
    t_max: at most this many rescalings per layer (static).

  Returns:
    :class:`LSUVResult`.
  """
  variances, iterations = [], []
  for name in layer_names(variables):
    def cond(carry, name=name):
      _, v, t = carry
      return (jnp.abs(v - 1) >= tol) & (t < t_max) & (v > 0) & jnp.isfinite(v)

    def body(carry, name=name):
      var_, v, t = carry
      var_ = _scale_kernel(var_, name, jax.lax.rsqrt(v))
      return var_, jnp.var(_apply_capturing(model, var_, x, name)), t + 1

    v0 = jnp.var(_apply_capturing(model, variables, x, name))
    variables, v, t = jax.lax.while_loop(cond, body, (variables, v0, jnp.int32(0)))
    variances.append(v)
    iterations.append(t)
  return LSUVResult(variables, jnp.stack(variances), jnp.stack(iterations))


def lsuv_weights(model: protocol.Model, variables: dict, x: jax.Array) -> list[str]:
  """The weights LSUV rescales on any model: every parameter leaf of rank >= 2 of the model's layers
  (:meth:`jaxinit.nets.protocol.Model.layers`: dense and conv kernels, attention
  projections; an embedding table's output is its rows, also rescaled), in the order the forward
  pass calls their modules (:meth:`jaxinit.nets.protocol.Model.in_call_order`)."""
  layers = set(model.layers(x))
  weights = [p for p, v in protocol.flat_paths(variables["params"]).items()
             if v.ndim >= 2 and p.rpartition("/")[0] in layers]
  return model.in_call_order(weights, x.shape)


def lsuv_any(model: protocol.Model, variables: dict, x: jax.Array, tol: float = 0.1,
             t_max: int = 10, weights: Sequence[str] | None = None) -> LSUVResult:
  """LSUV (Mishkin & Matas 2016) on any model: each selected weight rescaled until its module's
  output has unit variance on ``x``.

  The layers are swept in the order the forward pass first calls them (:func:`lsuv_weights`; a
  layer called twice, or a model whose order is unknown, is why the sweep repeats): in each sweep
  every weight whose module output variance ``v`` is off by ``|v - 1| >= tol`` is divided by
  ``sqrt(v)``, measured after the weights before it in the sweep were rescaled. A layer is settled
  once every layer it depends on is, so for a positively homogeneous network (ReLU, linear) ``k``
  sweeps settle the first ``k`` layers in execution order whatever the order swept; the loop stops
  when every layer is within ``tol`` or after ``t_max + len(weights)`` sweeps. In execution order,
  the first sweep is Algorithm 1's single pass. Outputs of variance 0 or not finite are left
  alone. The model runs in evaluation mode.

  Args:
    model: the model in the pure form.
    variables: one member's variables (vmap for a population).
    x: the data batch ``(B, *input_shape)``.
    tol, t_max: as for :func:`lsuv` (static).
    weights: the weight paths to rescale; None: :func:`lsuv_weights`.

  Returns:
    :class:`LSUVResult` with one variance per weight (after the last sweep) and, in
    ``iterations``, the number of sweeps in which each weight was rescaled.
  """
  weights = lsuv_weights(model, variables, x) if weights is None else list(weights)
  if not weights:
    raise ValueError("lsuv: the model has no weight (a parameter of rank >= 2) whose module output "
                     "it exposes; nothing to rescale")
  modules = [w.rpartition("/")[0] for w in weights]

  def variance(v: dict, module: str) -> jax.Array:
    return jnp.var(model.capture(v, x)[1][module])

  def rescale(v: dict, path: str, factor: jax.Array) -> dict:
    params = jax.tree_util.tree_map_with_path(
        lambda p, leaf: leaf * factor.astype(leaf.dtype) if protocol.path_str(p) == path else leaf,
        v["params"])
    return {**v, "params": params}

  def off(var: jax.Array) -> jax.Array:
    return (jnp.abs(var - 1) >= tol) & (var > 0) & jnp.isfinite(var)

  def sweep(carry: tuple) -> tuple:
    v, _, counts, n = carry
    out = []
    for k, (w, m) in enumerate(zip(weights, modules, strict=True)):
      var = variance(v, m)
      fix = off(var)
      v = rescale(v, w, jnp.where(fix, jax.lax.rsqrt(jnp.where(fix, var, 1.0)), 1.0))
      counts = counts.at[k].add(fix.astype(jnp.int32))
      out.append(var)
    return v, jnp.stack(out), counts, n + 1

  def cond(carry: tuple) -> jax.Array:
    _, var, _, n = carry
    return jnp.any(off(var)) & (n < t_max + len(weights))

  start = jnp.full((len(weights),), 2.0 + tol, jnp.float32)  # "off": at least one sweep
  variables, _, counts, _ = jax.lax.while_loop(
      cond, sweep, (variables, start, jnp.zeros(len(weights), jnp.int32), jnp.int32(0)))
  final = jnp.stack([variance(variables, m) for m in modules])
  return LSUVResult(variables, final, counts)


def _random_batch(key: jax.Array, input_shape: Sequence[int], num_outputs: int, batch: int
                  ) -> tuple[jax.Array, jax.Array]:
  """Inputs ``N(0, 1)`` of shape ``(batch, *input_shape)`` and uniformly random labels."""
  kx, ky = jax.random.split(key)
  x = jax.random.normal(kx, (batch, *input_shape), jnp.float32)
  y = jax.random.randint(ky, (batch,), 0, max(num_outputs, 2))
  return x, y


def gradient_quotient(loss: Any, params: Any, eps: float = 1e-5) -> jax.Array:
  r"""Dauphin & Schoenholz's gradient quotient: the mean over all parameter entries of
  :math:`|(g - Hg) / (g + \epsilon\,\mathrm{sign}(g)) - 1|`, ``g = grad loss(params)``, ``Hg`` the
  Hessian-vector product (forward-over-reverse ``jvp`` of ``grad``); ``sign(0) = +1``.

  It is 0 when one gradient step of size 1 would zero the gradient to first order: a small value
  means the curvature is well conditioned along the gradient.

  Args:
    loss: ``params -> scalar``.
    params: a pytree of arrays.
    eps: the denominator's guard.

  Returns:
    A scalar.
  """
  g = jax.grad(loss)(params)
  hg = jax.jvp(jax.grad(loss), (params,), (g,))[1]

  def quotient(g, hg):
    sign = jax.lax.stop_gradient(jnp.where(g >= 0, 1.0, -1.0).astype(g.dtype))
    return jnp.sum(jnp.abs((g - hg) / (g + eps * sign) - 1))

  total = sum(x.size for x in jax.tree.leaves(params))
  return sum(jax.tree.leaves(jax.tree.map(quotient, g, hg))) / total


class MetaInitResult(NamedTuple):
  """What :func:`metainit` returns.

  Attributes:
    variables: the variables with every kernel rescaled to its learned norm.
    quotient: ``(steps + 1,)``, the gradient quotient on each step's random batch before the step,
      and last on a fresh batch after the last step.
    norms: ``(K,)``, the learned kernel norms, in ``layer_names`` order.
  """

  variables: dict
  quotient: jax.Array
  norms: jax.Array


def metainit(model: nn.Module, variables: dict, key: jax.Array, input_shape: Sequence[int],
             num_outputs: int, steps: int = 50, lr: float = 0.1, batch: int = 8,
             eps: float = 1e-5, momentum: float = 0.5) -> MetaInitResult:
  """MetaInit: learn the norm of every kernel by sign-SGD with momentum on the gradient quotient.

  Each kernel is ``n_j * d_j`` with its initial direction ``d_j = W_j / |W_j|`` fixed and its norm
  ``n_j`` learned (biases and BatchNorm parameters are not rescaled but enter the quotient). Each
  step draws a batch of ``N(0, 1)`` inputs and uniformly random labels, computes the gradient of the
  quotient (of the training loss, eval mode) with respect to the norms, and updates
  ``m <- momentum m - lr sign(grad)``, ``n <- n + m`` (Dauphin & Schoenholz 2019, Algorithm 1).

  Args:
    model: a :class:`jaxinit.nets.models.MLP` or ``CNN`` (static).
    variables: its variables, one member (vmap for a population).
    key: the PRNG key for the random batches.
    input_shape: one input's shape (static).
    num_outputs: the model's number of logits (1 = binary; static).
    steps, lr, batch, eps, momentum: as in init2winit's defaults (static).

  Returns:
    :class:`MetaInitResult`.
  """
  names = layer_names(variables)
  params = variables["params"]
  norms0 = jnp.stack([jnp.linalg.norm(params[n]["kernel"]) for n in names])
  directions = {n: params[n]["kernel"] / jnp.where(norms0[i] > 0, norms0[i], 1.0)
                for i, n in enumerate(names)}

  def with_norms(norms: jax.Array) -> dict:
    new = dict(params)  # the layers' entries replaced; others (a residual gate) kept as they are
    for i, n in enumerate(names):
      new[n] = {**params[n], "kernel": norms[i] * directions[n]}
    return new

  def quotient(norms: jax.Array, step_key: jax.Array) -> jax.Array:
    x, y = _random_batch(step_key, input_shape, num_outputs, batch)

    def loss(p: Any) -> jax.Array:
      logits = model.apply({**variables, "params": p}, x)
      return jnp.mean(models.per_example_loss(logits, y)[0])

    return gradient_quotient(loss, with_norms(norms), eps)

  def step(carry, step_key):
    norms, memory = carry
    gq, grad = jax.value_and_grad(quotient)(norms, step_key)
    memory = momentum * memory - lr * jnp.sign(grad)
    return (norms + memory, memory), gq

  keys = jax.random.split(key, steps + 1)
  (norms, _), history = jax.lax.scan(step, (norms0, jnp.zeros_like(norms0)), keys[:-1])
  last = quotient(norms, keys[-1])
  return MetaInitResult({**variables, "params": with_norms(norms)},
                        jnp.concatenate([history, last[None]]), norms)
