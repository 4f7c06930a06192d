"""Population schemes: how a member's whole network is initialized, by a canonical name.

A scheme is a kernel initializer, a bias initializer and, for the data-dependent ones, a refinement
of the drawn variables. Every name of :mod:`jaxinit.initializers` is a scheme (its kernels; zero
biases), and three more act on the whole network:

* ``critical(<activation>)``: kernels ``N(0, C_W / fan_in)`` and biases ``N(0, C_b)`` at the
  activation's critical point (:func:`jaxinit.theory.critical_point`), e.g. ``critical(tanh)``
  (``C_W = 1, C_b = 0``), ``critical(gelu)``; an activation without one is a clear error.
* ``lsuv(tol=0.1, t_max=10, base=orthogonal)``: the ``base`` start, then
  :func:`jaxinit.schemes.datadep.lsuv`
  on a batch of training inputs (``needs_data``).
* ``metainit(steps=50, lr=0.1, batch=8, eps=1e-05, momentum=0.5, base=lecun_normal)``: the ``base``
  start, then :func:`jaxinit.schemes.datadep.metainit` on random inputs.

two are for residual MLPs (``kind="resmlp"``, :class:`jaxinit.nets.models.ResMLP`) only, a clear error on
any other model (:meth:`Scheme.check_kind`):

* ``skipinit(base=he_normal)`` (De & Smith 2020), alias ``rezero`` (Bachlechner et al. 2020; the same
  for an MLP): the ``base`` draw, then every block's gate ``g_b = 0``, so at initialization each
  block is the identity and the network is ``readout(phi(layer_0(x)))``.
* ``fixup(base=he_normal)`` (Zhang, Dauphin & Ma 2019, §3): the ``base`` draw, then the readout
  kernel and the last kernel of every branch 0, each branch's other kernels multiplied by
  ``L^(-1/(2m-2)) = L^(-1/2)`` (``L`` blocks of ``m = 2`` layers), every gate 1 and every dense
  bias 0 (BatchNorm parameters, if any, are left as they are). Fixup's rule 3, scalar biases
  before every layer and nonlinearity, is not added: the dense layers' own biases, zeroed, stand
  in for them, and the gate is its scalar multiplier.

and one sets each layer apart:

* ``layers(k_1, ..., k_L, bias=zeros)``: layer ``i``'s kernel from initializer ``k_i`` (layers
  counted as the model counts them: convolutions, then dense layers, the readout last), every bias
  from ``bias``; ``bias=layers(b_1, ..., b_L)`` gives each layer its own bias initializer. A single
  kernel initializer, ``layers(constant(0.005), bias=constant(0.005))``, is every layer's. A model
  with another number of layers is a clear error (:meth:`Scheme.layer_inits`). Each layer's key
  is the one Flax gives its path, so ``layers(he_normal, he_normal, zeros)`` draws the first two
  kernels exactly as ``he_normal`` does for the same seed.

and, for transformers (on any model with :mod:`jaxinit.nets.transformer`'s parameter paths):

* ``gpt2(depth)``, ``t_fixup(depth, width)``, ``deepnorm(depth)``, ``small_init(width)``,
  ``mup_init``: rule sets by parameter path (:mod:`jaxinit.schemes.transformers`);
* ``mimetic(alpha1=0.7, beta1=0.7, alpha2=0.4, beta2=0.4, base=lecun_normal)`` (Trockman & Kolter
  2023): the ``base`` rules, then every attention layer's query-key and value-output products
  redrawn (:func:`jaxinit.schemes.transformers.mimetic_redraw`).

Names round-trip: ``get(get(n).name).name == get(n).name``; the data-dependent names always print
every hyperparameter, so a record says exactly what ran.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinit import activations, initializers, names, theory
from jaxinit.nets import models, protocol
from jaxinit.schemes import datadep, rules, transformers

__all__ = ["Scheme", "get", "known", "FACTORIES", "ALIASES", "critical", "lsuv", "metainit", "layers",
           "skipinit", "fixup", "mimetic"]

Inits = initializers.Initializer | tuple[initializers.Initializer, ...]
"""One initializer for every layer, or one per layer."""

Refine = Callable[[nn.Module, dict, jax.Array, jax.Array], dict]
"""``(model, variables, key, x) -> variables`` for one member, jit- and vmap-able; ``x`` is a batch
``(B, *input_shape)``: real data when the scheme ``needs_data``, else only its shape counts."""
RefineAny = Callable[[protocol.Model, dict, jax.Array, jax.Array], dict]
"""A refinement of any model in the pure form (:mod:`jaxinit.nets.protocol`), as :data:`Refine`."""


@dataclasses.dataclass(frozen=True, eq=False)
class Scheme:
  """How one member is initialized.

  Attributes:
    name: canonical string; ``get(name)`` rebuilds the same scheme.
    kernel_init: every layer's kernel initializer, or a tuple of one per layer.
    bias_init: every layer's bias initializer, or a tuple of one per layer.
    refine: applied to the drawn variables, or None.
    needs_data: ``refine`` needs a batch of real inputs (LSUV); the others use only its shape.
    kinds: the model kinds (:data:`jaxinit.nets.models.KINDS`) the scheme is for, or None for any.
    activation: the activation whose critical point the scheme sets (``critical(ACT)``), or None
      for a scheme that fits any activation.
    rules: the scheme's rules by parameter path (:mod:`jaxinit.schemes.rules`) when it is written
      as a rule set; None for a named scheme (:meth:`rule_set` derives its rules).
    refine_any: the refinement on any model (LSUV), or None.
    not_any_model: why the scheme cannot initialize an arbitrary model (per-layer lists, the
      residual MLP's own schemes, MetaInit), or None when it can.
  """

  name: str
  kernel_init: Inits
  bias_init: Inits = dataclasses.field(default_factory=initializers.zeros)
  refine: Refine | None = dataclasses.field(default=None, repr=False)
  needs_data: bool = False
  kinds: tuple[str, ...] | None = None
  activation: str | None = None
  rules: rules.RuleSet | None = None
  refine_any: RefineAny | None = dataclasses.field(default=None, repr=False)
  not_any_model: str | None = None

  def rule_set(self) -> rules.RuleSet:
    """The scheme as rules by parameter path, for any model: a rule set as written; a named
    scheme's kernel and bias initializers on every ``kernel`` and ``bias`` leaf, other leaves as the
    model built them (:func:`jaxinit.schemes.rules.from_initializers`).

    Raises:
      ValueError: a scheme that needs the built-in models' layer structure (:attr:`not_any_model`).
    """
    if self.rules is not None:
      return self.rules
    if self.not_any_model is not None or isinstance(self.kernel_init, tuple) or isinstance(
        self.bias_init, tuple):
      why = self.not_any_model or "it names one initializer per layer of a built-in model"
      raise ValueError(f"scheme {self.name!r} works on the built-in models only: {why}; on your "
                       'own model use init rules, e.g. {"*/kernel": "he_normal", "*/bias": '
                       '"zeros", "*": "as_built"}')
    return rules.from_initializers(self.kernel_init, self.bias_init)

  def check_kind(self, kind: str) -> None:
    """Checks that the scheme is for models of this kind.

    Raises:
      ValueError: a scheme for other kinds of model (e.g. ``fixup`` on an ``"mlp"``).
    """
    if self.kinds is not None and kind not in self.kinds:
      raise ValueError(f"scheme {self.name!r} is for {' and '.join(self.kinds)} models; got a "
                       f"{kind!r} model (accepted kinds: {', '.join(self.kinds)})")

  def check_activation(self, activation: str) -> None:
    """Checks that the scheme fits a model with this (canonical) hidden activation.

    Raises:
      ValueError: a critical scheme for another activation (``critical(tanh)`` on a relu net: its
        variances would put the model off its own critical point without a word).
    """
    if self.activation is not None and self.activation != activation:
      raise ValueError(f"scheme {self.name!r} sets {self.activation}'s critical point but the model's "
                       f"activation is {activation}; accepted: critical({activation}), or those "
                       f"variances by name, e.g. variance_scaling(scale=..., mode='fan_in', "
                       f"distribution='normal')")

  @property
  def depth(self) -> int | None:
    """The number of layers the scheme is written for, or None when it fits any model."""
    counts = {len(i) for i in (self.kernel_init, self.bias_init) if isinstance(i, tuple)}
    return max(counts) if counts else None

  def layer_inits(self, depth: int) -> tuple[tuple[initializers.Initializer, ...],
                                             tuple[initializers.Initializer, ...]]:
    """One kernel and one bias initializer for each of a model's ``depth`` layers (the layers with a
    kernel: :attr:`jaxinit.nets.models.ModelConfig.depth`).

    Raises:
      ValueError: the scheme names initializers for another number of layers.
    """
    if self.rules is not None:
      raise ValueError(f"scheme {self.name!r} is a rule set: it has no per-layer initializers "
                       "(rules.draw draws it)")
    if self.depth is not None and self.depth != depth:
      raise ValueError(
          f"scheme {self.name!r} names {self.depth} layers' initializers but the model has "
          f"{depth} layers with a kernel (convolutions and dense layers, the readout included); "
          "accepted: one initializer per layer, or one for every layer")
    return tuple(i if isinstance(i, tuple) else (i,) * depth
                 for i in (self.kernel_init, self.bias_init))


def critical(activation: str) -> Scheme:
  """Kernels ``N(0, C_W / fan_in)``, biases ``N(0, C_b)``, at ``activation``'s critical point.

  Raises:
    ValueError: an unknown activation, or one without a critical point (e.g. sigmoid).
  """
  act = activations.get(activation)
  crit = theory.critical_point(act)
  kernel = initializers.variance_scaling(scale=crit.C_W, mode="fan_in", distribution="normal")
  bias = initializers.normal(stddev=math.sqrt(crit.C_b)) if crit.C_b > 0 else initializers.zeros()
  return Scheme(names.format_call("critical", (act.name,)), kernel, bias, activation=act.name)


def lsuv(tol: float = 0.1, t_max: int = 10, base: str = "orthogonal") -> Scheme:
  """LSUV (Mishkin & Matas 2016): the ``base`` start, then per-layer unit output variance on a
  data batch. See :func:`jaxinit.schemes.datadep.lsuv`."""
  tol = names.check_number("tol", "lsuv", tol, minimum=0.0, strict=True)
  t_max = names.check_int("t_max", "lsuv", t_max, 1)
  start = _base(base, "lsuv")

  def refine(model: nn.Module, variables: dict, key: jax.Array, x: jax.Array) -> dict:
    del key
    return datadep.lsuv(model, variables, x, tol, t_max).variables

  def refine_any(model: protocol.Model, variables: dict, key: jax.Array, x: jax.Array) -> dict:
    del key
    return datadep.lsuv_any(model, variables, x, tol, t_max).variables

  name = names.format_call("lsuv", kwargs={"tol": tol, "t_max": t_max, "base": start.name})
  return Scheme(name, start.kernel_init, start.bias_init, refine=refine, needs_data=True,
                refine_any=refine_any)


def metainit(steps: int = 50, lr: float = 0.1, batch: int = 8, eps: float = 1e-5,
             momentum: float = 0.5, base: str = "lecun_normal") -> Scheme:
  """MetaInit (Dauphin & Schoenholz 2019): the ``base`` start, then learned kernel norms. See
  :func:`jaxinit.schemes.datadep.metainit`."""
  steps = names.check_int("steps", "metainit", steps, 1)
  batch = names.check_int("batch", "metainit", batch, 1)
  lr = names.check_number("lr", "metainit", lr, minimum=0.0, strict=True)
  eps = names.check_number("eps", "metainit", eps, minimum=0.0, strict=True)
  momentum = names.check_number("momentum", "metainit", momentum, minimum=0.0)
  if momentum >= 1:
    raise ValueError(f"metainit: momentum={momentum} is out of range; accepted: a number in [0, 1)")
  start = _base(base, "metainit")

  def refine(model: nn.Module, variables: dict, key: jax.Array, x: jax.Array) -> dict:
    return datadep.metainit(model, variables, key, x.shape[1:], model.widths[-1], steps, lr, batch,
                            eps, momentum).variables

  name = names.format_call("metainit", kwargs={"steps": steps, "lr": lr, "batch": batch, "eps": eps,
                                               "momentum": momentum, "base": start.name})
  return Scheme(name, start.kernel_init, start.bias_init, refine=refine,
                not_any_model="its gradient quotient is written for the built-in models' layers")


def layers(*kernels: str, bias: str = "zeros") -> Scheme:
  """Each layer's kernel initializer by name, and the biases' (one for all, or ``layers(...)`` of
  one per layer).

  Raises:
    ValueError: no kernel initializer, a name that is not an initializer (a whole-network scheme
      such as ``critical(tanh)`` cannot be one layer's), per-layer biases for another number of
      layers than the kernels, or a ``bias=`` inside ``bias=``.

  >>> layers("he_normal", "he_normal", "zeros").name
  'layers(he_normal, he_normal, zeros)'
  >>> layers("constant(0.005)", bias="constant(0.005)").depth is None
  True
  """
  if not kernels:
    raise ValueError("layers() needs at least one kernel initializer; accepted: e.g. "
                     "'layers(he_normal, he_normal, zeros)' (one per layer) or "
                     "'layers(constant(0.005), bias=constant(0.005))' (one for every layer)")
  kernel = tuple(_layer_initializer(k, "kernel") for k in kernels)
  bias_name, bias_args, bias_kwargs = names.parse(bias) if isinstance(bias, str) else ("", (), {})
  if bias_name == "layers":
    if bias_kwargs or not bias_args:
      raise ValueError(f"layers(bias={bias}): the biases' layers(...) takes one initializer per "
                       "layer and nothing else; accepted: e.g. bias=layers(zeros, zeros, "
                       "constant(0.1))")
    biases: Inits = tuple(_layer_initializer(b, "bias") for b in bias_args)
    if len(kernel) > 1 and len(biases) != len(kernel):
      raise ValueError(f"layers(...) names {len(kernel)} kernel initializers but {len(biases)} "
                       "bias initializers; accepted: as many of each, or one kernel initializer "
                       "for every layer")
    bias_text = names.format_call("layers", tuple(b.name for b in biases))
  else:
    biases = _layer_initializer(bias, "bias")
    bias_text = biases.name
  kwargs = {} if bias_text == "zeros" else {"bias": bias_text}
  name = names.format_call("layers", tuple(k.name for k in kernel), kwargs)
  return Scheme(name, kernel[0] if len(kernel) == 1 else kernel, biases)


def _residual_blocks(model: nn.Module, name: str) -> int:
  """The number of blocks of a residual MLP, for a refinement that acts on its blocks.

  Raises:
    ValueError: a model that is not a :class:`jaxinit.nets.models.ResMLP`.
  """
  if not isinstance(model, models.ResMLP):
    raise ValueError(f"scheme {name!r} is for residual MLPs (kind='resmlp'); got a "
                     f"{type(model).__name__} (accepted kinds: resmlp)")
  return model.blocks


def skipinit(base: str = "he_normal") -> Scheme:
  """SkipInit (De & Smith 2020) = ReZero (Bachlechner et al. 2020): the ``base`` draw, then every
  residual block's gate set to 0, so that each block is exactly the identity at initialization.

  Raises:
    ValueError: a ``base`` that is not an initializer name or ``layers(...)``; used on a model that
      is not a residual MLP.

  >>> skipinit().name
  'skipinit(base=he_normal)'
  """
  start = _base(base, "skipinit")
  name = names.format_call("skipinit", kwargs={"base": start.name})

  def refine(model: nn.Module, variables: dict, key: jax.Array, x: jax.Array) -> dict:
    del key, x
    params = dict(variables["params"])
    for b in range(_residual_blocks(model, name)):
      params[f"gate_{b}"] = jnp.zeros_like(params[f"gate_{b}"])
    return {**variables, "params": params}

  return Scheme(name, start.kernel_init, start.bias_init, refine=refine, kinds=("resmlp",),
                not_any_model="it zeroes the residual MLP's block gates")


FIXUP_BRANCH_LAYERS = 2
"""``m``, the dense layers in a residual branch of :class:`jaxinit.nets.models.ResMLP`."""


def fixup(base: str = "he_normal") -> Scheme:
  r"""Fixup (Zhang, Dauphin & Ma 2019, §3, rules 1 and 2; of rule 3, the scalar multiplier is the
  gate, and the dense layers' zeroed biases stand in for its scalar biases): the ``base`` draw;
  then the readout kernel and each branch's last kernel 0, each branch's other kernels times
  :math:`L^{-1/(2m-2)}` (``L`` blocks, ``m = 2`` layers per branch: :math:`L^{-1/2}`), every gate
  1 and every dense bias 0.
  The input projection keeps its ``base`` draw.

  Raises:
    ValueError: a ``base`` that is not an initializer name or ``layers(...)``; used on a model that
      is not a residual MLP.

  >>> fixup("glorot_normal").name
  'fixup(base=glorot_normal)'
  """
  start = _base(base, "fixup")
  name = names.format_call("fixup", kwargs={"base": start.name})

  def refine(model: nn.Module, variables: dict, key: jax.Array, x: jax.Array) -> dict:
    del key, x
    blocks = _residual_blocks(model, name)
    factor = float(blocks) ** (-1.0 / (2 * FIXUP_BRANCH_LAYERS - 2))
    # The barrier keeps XLA from folding the factor into the draw's own scale: the draw is rounded,
    # then the product, as the test's base draw times the factor is.
    params = dict(jax.lax.optimization_barrier(variables["params"]))
    readout = len(model.widths) - 1
    for i in range(len(model.widths)):
      layer = dict(params[f"layer_{i}"])
      layer["bias"] = jnp.zeros_like(layer["bias"])
      if i == readout or (i > 0 and i % 2 == 0):  # the readout, a branch's last layer
        layer["kernel"] = jnp.zeros_like(layer["kernel"])
      elif i > 0:  # a branch's first layer
        layer["kernel"] = layer["kernel"] * jnp.asarray(factor, layer["kernel"].dtype)
      params[f"layer_{i}"] = layer
    for b in range(blocks):
      params[f"gate_{b}"] = jnp.ones_like(params[f"gate_{b}"])
    return {**variables, "params": params}

  return Scheme(name, start.kernel_init, start.bias_init, refine=refine, kinds=("resmlp",),
                not_any_model="it needs the residual MLP's blocks and gates")


def mimetic(alpha1: float = 0.7, beta1: float = 0.7, alpha2: float = 0.4, beta2: float = 0.4,
            base: str = "lecun_normal") -> Scheme:
  """Mimetic attention init (Trockman & Kolter 2023): the ``base`` draw on every kernel (biases
  zero, the rest as built), then every attention layer's query-key and value-output products set
  as :func:`jaxinit.schemes.transformers.mimetic_redraw` says. On any model with the zoo's
  attention paths; a model without them is a clear error when it is drawn."""
  values = {k: names.check_number(k, "mimetic", v, 0.0) for k, v in
            (("alpha1", alpha1), ("beta1", beta1), ("alpha2", alpha2), ("beta2", beta2))}
  start = _base(base, "mimetic")

  def refine_any(model: protocol.Model, variables: dict, key: jax.Array, x: jax.Array) -> dict:
    del model, x
    return {**variables, "params": transformers.mimetic_redraw(variables["params"], key, **values)}

  return Scheme(names.format_call("mimetic", kwargs={**values, "base": start.name}), None, None,
                rules=start.rule_set(), refine_any=refine_any)


def _named_rules(factory: Callable[..., rules.RuleSet]) -> Callable[..., Scheme]:
  """A rule-set factory (:mod:`jaxinit.schemes.transformers`) as a scheme factory whose name is
  the call with every argument by keyword (``gpt2(depth=4)``)."""
  signature = inspect.signature(factory)

  @functools.wraps(factory)
  def scheme(*args: object, **kwargs: object) -> Scheme:
    bound = signature.bind(*args, **kwargs)
    return Scheme(names.format_call(factory.__name__, kwargs=bound.arguments), None, None,
                  rules=factory(*args, **kwargs))

  return scheme


FACTORIES: dict[str, Callable[..., Scheme]] = {
    "critical": critical, "lsuv": lsuv, "metainit": metainit, "layers": layers,
    "skipinit": skipinit, "fixup": fixup, "mimetic": mimetic,
    **{name: _named_rules(f) for name, f in transformers.FACTORIES.items()}}
ALIASES: dict[str, str] = {"rezero": "skipinit"}
"""Whole-network scheme aliases -> canonical names (ReZero is SkipInit for an MLP)."""


def _layer_initializer(name: str, role: str) -> initializers.Initializer:
  """An initializer for one layer's ``role`` ("kernel", "bias"), with a clear error for a
  whole-network scheme."""
  if isinstance(name, str) and names.parse(name)[0] in (*FACTORIES, *ALIASES):
    raise ValueError(f"layers(...): {name!r} acts on the whole network and cannot be one layer's "
                     f"{role} initializer; accepted: initializer names (jaxinit schemes lists them)")
  return initializers.get(name)


def _base(name: str, owner: str) -> Scheme:
  """A data-dependent scheme's start: an initializer name (biases zero) or a ``layers(...)``
  scheme."""
  if isinstance(name, str) and names.parse(name)[0] == "layers":
    return get(name)
  if isinstance(name, str) and names.parse(name)[0] in (*FACTORIES, *ALIASES):
    raise ValueError(f"{owner}: base={name} is a whole-network scheme; accepted: an initializer "
                     "name or layers(...)")
  return get(initializers.get(name))


def known() -> list[str]:
  """The scheme names: every initializer's and the whole-network ones, sorted (without aliases)."""
  return sorted([*initializers.known(), *FACTORIES])


def get(name: str | Scheme | initializers.Initializer) -> Scheme:
  """Builds a scheme from its name (an initializer name, or ``critical(...)``, ``lsuv(...)``,
  ``metainit(...)``, ``layers(...)``, ``skipinit(...)`` (alias ``rezero``), ``fixup(...)``); a
  :class:`Scheme` is returned as it is.

  Raises:
    ValueError: an unknown name (listing the known ones), or bad parameters.

  >>> get("critical(tanh)").kernel_init.name
  'variance_scaling(scale=1.0, mode=fan_in, distribution=normal)'
  >>> get("lsuv").name
  'lsuv(tol=0.1, t_max=10, base=orthogonal)'
  >>> get("rezero").name
  'skipinit(base=he_normal)'
  """
  if isinstance(name, Scheme):
    return name
  if isinstance(name, initializers.Initializer):
    return Scheme(name.name, name)
  if isinstance(name, rules.RuleSet):
    return Scheme(name.name, None, None, rules=name)
  return _build(name)


@functools.lru_cache(maxsize=1024)
def _build(name: str) -> Scheme:
  if rules.is_rule_set(name):
    rule_set = rules.parse(name)
    return Scheme(rule_set.name, None, None, rules=rule_set)
  base = names.parse(name)[0]
  if base in FACTORIES or base in ALIASES:
    return names.build(name, FACTORIES, ALIASES, "scheme")
  try:
    return Scheme((init := initializers.get(name)).name, init)
  except ValueError as e:
    if not str(e).startswith("unknown initializer"):
      raise
    raise ValueError(f"unknown scheme {name!r}; known: {', '.join(known())} (and the aliases: "
                     f"{', '.join(sorted([*initializers.ALIASES, *ALIASES]))})") from None
