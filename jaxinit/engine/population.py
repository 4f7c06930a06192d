"""A population: the grid of members (scheme x seed x hyperparameters) and their stacked parameters.

A member is one network: an initialization scheme, a seed, a learning rate, a momentum and an init
scale. Members share one architecture, so their parameters stack along a leading model axis ``M``.

Keys and reproducibility: member ``k``'s parameters are ``model.init(jax.random.key(seed))`` with its
scheme, every kernel then multiplied by its ``scale`` (biases and BatchNorm parameters are not
scaled). Flax derives each layer's key from the member key and the layer's path, so a member's
parameters depend only on its own (scheme, seed, scale) and never on its position in the population:
they are bit-identical alone or among 10,000 others. Two schemes with the same seed draw from the same
random numbers (common random numbers), so comparisons between schemes are paired.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import activations, names
from jaxinit import schemes as scheme_registry
from jaxinit.nets import models, protocol
from jaxinit.results import records
from jaxinit.schemes import programs, rules

__all__ = ["Member", "check_axes", "grid", "check_layers", "check_activation", "member_table",
           "init_params", "hyperparameters", "MAX_SEED", "DEFAULT_LR", "DEFAULT_MOMENTUM", "INIT_BATCH",
           "REFINE_STREAM", "init_batch"]

MAX_SEED = 2 ** 32
"""Seeds are in ``[0, 2^32)``: ``jax.random.key`` keeps 32 bits unless x64 is on."""
DEFAULT_LR = 0.1
"""A member's learning rate when none is given."""
DEFAULT_MOMENTUM = 0.9
"""A member's SGD momentum when none is given."""

INIT_BATCH = 256
"""Inputs in the data batch of a data-dependent scheme (LSUV) in sweeps (:func:`init_batch`)."""

REFINE_STREAM = programs.REFINE_STREAM
"""A data-dependent scheme's refinement (MetaInit's random batches) uses ``fold_in(key(seed),
REFINE_STREAM)``, a stream apart from the layers' init keys."""


@dataclasses.dataclass(frozen=True)
class Member:
  """One network of a population.

  Attributes:
    scheme: canonical scheme name (``scheme_registry.get(scheme).name``): an initializer, or
      ``critical(...)``, ``lsuv(...)``, ``metainit(...)``, ``layers(...)``, ``skipinit(...)``,
      ``fixup(...)``.
    seed: the member's PRNG seed, in ``[0, 2^32)``.
    lr: learning rate, > 0.
    momentum: SGD momentum, in ``[0, 1)``.
    scale: factor on every initial kernel, >= 0.
  """

  scheme: str
  seed: int
  lr: float = DEFAULT_LR
  momentum: float = DEFAULT_MOMENTUM
  scale: float = 1.0

  def __post_init__(self) -> None:
    object.__setattr__(self, "scheme", scheme_registry.get(self.scheme).name)
    if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or not (
        0 <= self.seed < MAX_SEED):
      raise ValueError(f"seed must be an int in [0, 2^32); got {self.seed!r}")
    object.__setattr__(self, "seed", int(self.seed))
    for field, minimum, strict in (("lr", 0.0, True), ("momentum", 0.0, False),
                                   ("scale", 0.0, False)):
      value = names.check_number(field, "member", getattr(self, field), minimum, strict)
      object.__setattr__(self, field, float(value))
    if self.momentum >= 1.0:
      raise ValueError(f"member momentum must be in [0, 1); got {self.momentum}")


if tuple(f.name for f in dataclasses.fields(Member)) != records.MEMBER_FIELDS:
  raise ImportError("Member's fields must be records.MEMBER_FIELDS, the record schema's owner")


def check_axes(schemes: Sequence[str], seeds: Sequence[int], lrs: Sequence[float],
               momenta: Sequence[float], scales: Sequence[float]) -> dict[str, list[Any]]:
  """The grid's axes by name (scheme names canonical), checked without building a member.

  Raises:
    ValueError: an empty axis or a duplicate value on one.
  """
  axes = {"schemes": [scheme_registry.get(s).name for s in schemes], "seeds": list(seeds),
          "lrs": list(lrs), "momenta": list(momenta), "scales": list(scales)}
  for axis, values in axes.items():
    if not values:
      raise ValueError(f"{axis} is empty; give at least one value")
    if len(set(values)) != len(values):
      dup = sorted({str(v) for v in values if values.count(v) > 1})
      raise ValueError(f"{axis} has duplicates ({', '.join(dup)}); each value must appear once")
  return axes


def grid(schemes: Sequence[str], seeds: Sequence[int], lrs: Sequence[float] = (DEFAULT_LR,),
         momenta: Sequence[float] = (DEFAULT_MOMENTUM,), scales: Sequence[float] = (1.0,)
         ) -> tuple[Member, ...]:
  """All combinations, scheme-major: ``for scheme, for lr, for momentum, for scale, for seed``.

  Raises:
    ValueError: an empty axis, a duplicate value on an axis (after canonicalizing scheme names), or
      a bad value (unknown scheme, seed outside ``[0, 2^32)``, lr <= 0, momentum outside [0, 1),
      scale < 0).
  """
  axes = check_axes(schemes, seeds, lrs, momenta, scales)
  product = itertools.product(axes["schemes"], axes["lrs"], axes["momenta"], axes["scales"],
                              axes["seeds"])
  return tuple(Member(scheme=s, seed=seed, lr=lr, momentum=mom, scale=sc)
               for s, lr, mom, sc, seed in product)


def check_layers(config: models.ModelConfig | protocol.Model, schemes: Sequence[str],
                 input_shape: Sequence[int] | None = None) -> None:
  """Checks that every scheme fits the model: on a built-in model, a per-layer scheme
  (``layers(...)``) names as many layers as it has, and a scheme for some kinds of model
  (``skipinit``, ``fixup``: residual MLPs) is for its kind; on any model (and for a rule set on a
  built-in one, given ``input_shape``), its rules match every parameter
  (:func:`jaxinit.schemes.rules.assign`).

  Raises:
    ValueError: the first scheme that does not fit, saying why.
  """
  paths = None  # the model's parameter paths, found once (from shapes) for the first rule set
  for s in schemes:
    scheme = scheme_registry.get(s)
    if isinstance(config, models.ModelConfig) and scheme.rules is None:
      scheme.check_kind(config.kind)
      scheme.layer_inits(config.depth)
    elif input_shape is not None:
      if paths is None:
        paths = list(protocol.of(_drawn_model(config)).param_shapes(
            np.zeros((1, *input_shape), np.float32)))
      rules.assign(scheme.rule_set(), paths)
    else:
      scheme.rule_set()


def check_activation(config: models.ModelConfig, schemes: Sequence[str]) -> None:
  """Checks that every critical scheme is for the model's activation: a study's check
  (:class:`jaxinit.studies.sweep.SweepConfig`, ``DiagnoseConfig``), not a drawing one, so a test or
  an experiment may still draw ``critical(tanh)``'s variances into any network.

  Raises:
    ValueError: the first scheme that does not fit, saying why.
  """
  activation = activations.get(config.activation).name
  for s in schemes:
    scheme_registry.get(s).check_activation(activation)


def member_table(members: Sequence[Member]) -> list[dict[str, Any]]:
  """One dict per member: ``member`` (its index) and its fields, ready for records and tables."""
  return [{"member": k, **dataclasses.asdict(m)} for k, m in enumerate(members)]


def hyperparameters(members: Sequence[Member]) -> dict[str, np.ndarray]:
  """The members' numeric hyperparameters as float32 host arrays of shape ``(M,)``: lr, momentum,
  scale."""
  return {f: np.asarray([getattr(m, f) for m in members], np.float32)
          for f in ("lr", "momentum", "scale")}


def init_params(config: models.ModelConfig | protocol.Model, members: Sequence[Member],
                input_shape: Sequence[int], x_batch: Any = None, *, host: bool = False) -> dict:
  """Initial variables of every member, stacked with the model axis first.

  Members are drawn one after another by compiled ``lax.map`` programs
  (:mod:`jaxinit.schemes.programs`), then put back in member order on the host: the schemes whose
  layers are affine draws (constants, normal, uniform, truncated normal, the Glorot/LeCun/He
  family, ``critical``) all by one program per architecture and set of base draws, their scales
  as data; each other scheme (orthogonal, LSUV, ...) by its own. Each program's member count is
  padded to a power of two, so populations of nearby sizes reuse it. Every kernel is multiplied
  by its member's ``scale``. The draw (and a data-dependent refinement) is made on the SP model;
  then layer ``i``'s kernel is multiplied by the parametrization's init factor
  (:meth:`jaxinit.nets.models.ModelConfig.layer_scales`), so at the base width it is SP's draw, bit for
  bit.

  Args:
    config: the architecture, or any model in the pure form (:mod:`jaxinit.nets.protocol`; pass
      one ``Model`` object for every call, so that its compiled programs are reused): its members
      are drawn by their schemes' rules (:func:`jaxinit.schemes.programs.general`), then each
      parameter times its parametrization's init factor; a rule set on a built-in model is drawn
      the same way.
    members: the population, ``M`` members.
    input_shape: one example's shape, e.g. ``(2,)`` or ``(28, 28, 1)``.
    x_batch: inputs ``(B, *input_shape)`` for the data-dependent schemes (``lsuv``), the same batch
      for every member; schemes that need no data ignore it.
    host: return NumPy arrays in host memory (for a caller that pads them there next, as
      :func:`jaxinit.engine.train.init_state` does) instead of device arrays.

  Returns:
    ``{"params": ..., ["batch_stats": ...]}`` whose leaves have shape ``(M, *leaf_shape)``.

  Raises:
    ValueError: an empty population, a per-layer scheme for another number of layers, a scheme
      for another kind of model (:func:`check_layers`), or a data-dependent scheme without a
      fitting ``x_batch``.
  """
  if not members:
    raise ValueError("the population is empty; give at least one member")
  if not isinstance(config, models.ModelConfig):
    return _placed(_general(protocol.of(config), members, input_shape, x_batch), host)
  scales = config.layer_scales()
  config = config.without_parametrization()  # the scheme's own draw; the parametrization after
  input_shape = tuple(int(d) for d in input_shape)
  by_scheme: dict[str, list[int]] = {}
  for k, m in enumerate(members):
    by_scheme.setdefault(m.scheme, []).append(k)
  check_layers(config, by_scheme)
  ruled = {s: by_scheme.pop(s) for s in list(by_scheme) if scheme_registry.get(s).rules is not None}
  needs_data = [s for s in by_scheme if scheme_registry.get(s).needs_data]
  if needs_data:
    x = _check_batch(x_batch, input_shape, needs_data[0])
  else:
    x = np.zeros((1, *input_shape), np.float32)
  shared: list[int] = []
  forms: dict[str, programs.Forms] = {}
  for scheme in list(by_scheme):
    if (f := programs.forms(config, input_shape, scheme)) is not None:
      forms[scheme] = f
      shared.extend(by_scheme.pop(scheme))
  parts, order = [], []
  if shared:
    padded = _padded(shared)
    signature, base, coef = programs.pack([forms[members[k].scheme] for k in padded])
    parts.append(_drawn(programs.shared(config, signature), members, len(shared), padded,
                        base, coef, _scales(members, padded), x[:1]))
    order.extend(shared)
  for scheme, idx in by_scheme.items():
    padded = _padded(idx)
    parts.append(_drawn(programs.per_scheme(config, scheme), members, len(idx), padded,
                        _scales(members, padded), x))
    order.extend(idx)
  if ruled:
    sub = [k for idx in ruled.values() for k in idx]
    parts.append(_general(protocol.of(config), [members[k] for k in sub], input_shape, x_batch))
    order.extend(sub)
  # Put back in member order on the host (no program is compiled for the population's size), then
  # on the device.
  inverse = np.argsort(np.asarray(order))
  variables = jax.tree.map(lambda *xs: np.concatenate(xs)[inverse], *parts)
  return _placed(_parametrized(variables, scales), host)


def _placed(variables: dict, host: bool) -> dict:
  return variables if host else jax.tree.map(jax.device_put, variables)


def _drawn_model(config: models.ModelConfig | protocol.Model) -> models.ModelConfig | protocol.Model:
  return config.without_parametrization() if isinstance(config, models.ModelConfig) else config


def _general(model: protocol.Model, members: Sequence[Member], input_shape: Sequence[int],
             x_batch: Any) -> dict:
  """Host variables of ``members`` of any model (:func:`jaxinit.schemes.programs.general`: one
  program per scheme, members one after another), in member order, each parameter times its
  parametrization's init factor (:meth:`jaxinit.nets.protocol.Model.leaf_scales`)."""
  input_shape = tuple(int(d) for d in input_shape)
  by_scheme: dict[str, list[int]] = {}
  for k, m in enumerate(members):
    by_scheme.setdefault(m.scheme, []).append(k)
  check_layers(model, by_scheme, input_shape)
  needs_data = [s for s in by_scheme if scheme_registry.get(s).needs_data]
  x = (_check_batch(x_batch, input_shape, needs_data[0]) if needs_data
       else np.zeros((1, *input_shape), np.float32))
  parts, order = [], []
  for scheme, idx in by_scheme.items():
    padded = _padded(idx)
    parts.append(_drawn(programs.general(model, scheme, input_shape), members, len(idx), padded,
                        _scales(members, padded), x))
    order.extend(idx)
  inverse = np.argsort(np.asarray(order))
  variables = jax.tree.map(lambda *xs: np.concatenate(xs)[inverse], *parts)
  factors = {p: s.init for p, s in model.leaf_scales().items() if s.init != 1.0}
  if not factors:
    return variables
  params = jax.tree_util.tree_map_with_path(
      lambda q, w: w * np.float32(factors[protocol.path_str(q)])
      if protocol.path_str(q) in factors else w, variables["params"])
  return {**variables, "params": params}


def _parametrized(variables: dict, scales: Sequence[Any]) -> dict:
  """Layer ``i``'s kernels (host arrays ``(M, ...)``) times its parametrization's init factor."""
  if all(s.init == 1.0 for s in scales):
    return variables
  params = dict(variables["params"])
  for i, s in enumerate(scales):
    if s.init != 1.0:
      layer = dict(params[f"layer_{i}"])
      layer["kernel"] = layer["kernel"] * np.float32(s.init)
      params[f"layer_{i}"] = layer
  return {**variables, "params": params}


def _padded(idx: list[int]) -> np.ndarray:
  """``idx`` padded to a power of two with copies of its first: a program compiled for one size
  serves every population up to it (drawing a few more members costs little beside a compile)."""
  return np.resize(np.asarray(idx), 1 << (len(idx) - 1).bit_length())


def _scales(members: Sequence[Member], idx: np.ndarray) -> np.ndarray:
  return np.asarray([members[k].scale for k in idx], np.float32)


def _drawn(program: Any, members: Sequence[Member], n: int, padded: np.ndarray, *args: Any) -> Any:
  """``program(seeds, *args)`` for the members ``padded``, on the host, the padding (all but the
  first ``n``) dropped."""
  seeds = np.asarray([members[k].seed for k in padded], np.uint32)
  return jax.tree.map(lambda v: np.asarray(v)[:n], program(seeds, *args))


def init_batch(x_train: Any, size: int = INIT_BATCH) -> jax.Array:
  """The batch data-dependent schemes see: ``min(size, N)`` training inputs at indices drawn
  without replacement by ``numpy.random.default_rng(0)`` (sorted), the same for every member and
  every run on the same data.

  Args:
    x_train: the training inputs, ``(N, *input_shape)``.
    size: the batch size.

  Returns:
    ``(min(size, N), *input_shape)`` float32.
  """
  n = x_train.shape[0]
  idx = np.sort(np.random.default_rng(0).permutation(n)[:min(size, n)])
  return jnp.asarray(x_train[idx], jnp.float32)


def _check_batch(x_batch: Any, input_shape: tuple[int, ...], scheme: str) -> jax.Array:
  if x_batch is None:
    raise ValueError(f"scheme {scheme!r} needs a data batch; accepted: x_batch of shape "
                     f"(B, {', '.join(map(str, input_shape))}) with B >= 2")
  x = jnp.asarray(x_batch, jnp.float32)
  if x.ndim != len(input_shape) + 1 or x.shape[1:] != input_shape or x.shape[0] < 2:
    raise ValueError(f"scheme {scheme!r}: the data batch has shape {tuple(x.shape)}; accepted: "
                     f"(B, {', '.join(map(str, input_shape))}) with B >= 2")
  return x
