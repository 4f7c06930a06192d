r"""Parametrizations: how initialization, a forward multiplier and the learning rate scale with width.

A parametrization (Yang & Hu 2021, "Feature Learning in Infinite-Width Neural Networks", §2: the
*abc*-parametrizations) writes each layer's effective kernel as :math:`W = \alpha\,w`, a forward
multiplier :math:`\alpha` times the trained parameter :math:`w`, drawn with some standard deviation
and trained with some learning rate. Here each of the three is a power of the **width multiplier**
:math:`m = n / n_0`, the hidden width over a ``base_width`` :math:`n_0`, relative to the standard
parametrization (SP): the scheme's own draw (``he_normal``, ...), no multiplier, the member's
learning rate :math:`\eta`. For a layer of role ``r``:

.. math::
   \mathrm{std}(w) = m^{i_r}\,\mathrm{std}_\mathrm{SP}(n), \qquad \alpha = m^{a_r}, \qquad
   \eta_r = m^{s_r}\,\eta\ \text{(SGD family)}\ \text{or}\ m^{d_r}\,\eta\ \text{(Adam family)}.

At ``m = 1`` every parametrization *is* SP, so hyperparameters tuned at the base width carry over
(Yang et al. 2022, "Tensor Programs V", §3). The roles are the layers' places in width:

* ``input``: the first kernel (finite fan-in, fan-out ``n``);
* ``hidden``: kernels ``n -> n``;
* ``output``: the readout kernel (fan-in ``n``, finite fan-out);
* ``bias``: every bias (and BatchNorm vector) of size ``n``. The readout's bias, and any
  parameter with no dimension ``n`` (a residual gate), is never scaled.

The exponents ``(i, a, s, d)``:

==============  ==============  ==================  =========================  ==========================
role            ``sp``          ``ntk``             ``mup``                    ``mean_field``
==============  ==============  ==================  =========================  ==========================
input           0, 0, 0, 0      0, 0, 0, -1/2       0, 0, 1, 0                 0, 0, 1, 0
hidden          0, 0, 0, 0      1/2, -1/2, 0, -1    0, 0, 0, -1                1/2, -1/2, 1, -1/2
output          0, 0, 0, 0      1/2, -1/2, 0, -1/2  -1/2, 0, -1, -1            1/2, -1, 1, 0
bias            0, 0, 0, 0      0, 0, 0, -1/2       0, 0, 1, 0                 0, 0, 1, 0
==============  ==============  ==================  =========================  ==========================

* ``ntk`` (Jacot et al. 2018): :math:`W = w/\sqrt{\mathrm{fan\_in}}` with :math:`w` of
  width-independent size and, with SGD, a width-independent learning rate on :math:`w` (the
  kernel regime: input and hidden preactivations move by :math:`O(n^{-1/2})`, the output by
  :math:`\Theta(1)`). Its Adam exponents are not from a paper table: they are derived here so that
  Adam's steps, whose entries do not shrink with the gradient, move every layer by the same powers
  of ``n`` as SGD's (a coherent sum over ``n`` inputs gives the hidden and output changes a factor
  ``n`` that the learning rate must take away; the coordinate check in the tests confirms it).
* ``mup`` is Tensor Programs V's Table 3, the form without multipliers: readout variance
  :math:`1/\mathrm{fan\_in}^2`; SGD learning rates :math:`\eta\cdot\mathrm{fan\_out}` for the
  input weights and biases and :math:`\eta/\mathrm{fan\_in}` for the readout; Adam learning rates
  :math:`\eta/\mathrm{fan\_in}` for hidden and readout weights.
* ``mean_field`` is the same parametrization in multiplier form: every width dependence of a kernel
  is a forward multiplier, the trained weights keep their base-width size. Its readout is Tensor
  Programs V's Table 8 (multiplier :math:`1/\mathrm{fan\_in}`, as ``MuReadout`` in microsoft/mup),
  and with one hidden layer it is the mean-field network :math:`f = \frac1n\sum_j a_j\phi(u_j
  \cdot x)` trained at learning rate :math:`\propto n` (Yang & Hu 2021, §3). The two forms are
  related by the *abc*-symmetry (Yang & Hu 2021, Eq. 3): for any :math:`\theta`, multiplier
  :math:`\times m^{-\theta}`, standard deviation :math:`\times m^{\theta}`, SGD learning rate
  :math:`\times m^{2\theta}` and Adam learning rate :math:`\times m^{\theta}` leave the training
  trajectory of :math:`W` unchanged, except for Adam's :math:`\epsilon` (a multiplier
  :math:`\alpha` turns it into :math:`\epsilon/\alpha`) and AdamW's decoupled weight decay
  (:math:`-\eta_l\lambda W` depends on the layer's learning rate, which the two forms set
  differently). So ``mup`` and ``mean_field`` train identically with SGD, momentum and Adam, to
  float rounding when :math:`\epsilon` is negligible (tested), but not with weight decay.

The multiplier multiplies the layer's *input*, ``Dense(alpha * h) = alpha W h + b``, so the bias
is not multiplied and the parameter tree is SP's. Names round-trip: ``get("mup(base_width=64)")``,
``"sp"``; the width-scaled names need ``base_width``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxinit import names

__all__ = ["Parametrization", "Rule", "LayerScale", "LeafScale", "get", "known", "TABLES", "ROLES",
           "LEAF_ROLES", "layer_roles", "layer_scales", "hidden_width", "DEFAULT", "infer_roles",
           "leaf_scales", "scale_by_layer", "scale_by_leaf", "scales_learning_rates", "with_base"]

DEFAULT = "sp"
ROLES = ("input", "hidden", "output", "bias")
"""Optimizers whose update is invariant to the gradient's scale: they take the ``d`` (Adam)
learning-rate exponents (Tensor Programs V, App. B.3); the others (``sgd``, ``momentum``,
``nesterov``) take the ``s`` (SGD) ones."""


@dataclasses.dataclass(frozen=True)
class Rule:
  """One role's exponents of the width multiplier ``m``.

  Attributes:
    init: on the standard deviation of the drawn parameter, relative to the scheme's SP draw.
    multiplier: the forward multiplier ``alpha = m**multiplier``.
    lr_sgd: on the learning rate with SGD, momentum or Nesterov.
    lr_adam: on the learning rate with Adam, AdamW or RMSProp.
  """

  init: float = 0.0
  multiplier: float = 0.0
  lr_sgd: float = 0.0
  lr_adam: float = 0.0


_SP = {role: Rule() for role in ROLES}
TABLES: dict[str, dict[str, Rule]] = {
    "sp": _SP,
    "ntk": {"input": Rule(lr_adam=-0.5), "hidden": Rule(0.5, -0.5, 0.0, -1.0),
            "output": Rule(0.5, -0.5, 0.0, -0.5), "bias": Rule(lr_adam=-0.5)},
    "mup": {"input": Rule(lr_sgd=1.0), "hidden": Rule(lr_adam=-1.0),
            "output": Rule(-0.5, 0.0, -1.0, -1.0), "bias": Rule(lr_sgd=1.0)},
    "mean_field": {"input": Rule(lr_sgd=1.0), "hidden": Rule(0.5, -0.5, 1.0, -0.5),
                   "output": Rule(0.5, -1.0, 1.0, 0.0), "bias": Rule(lr_sgd=1.0)},
}
"""Each parametrization's :class:`Rule` per role (the table of the module docstring)."""


@dataclasses.dataclass(frozen=True)
class LayerScale:
  """What a parametrization does to one layer at one width.

  Attributes:
    init: factor on the drawn kernel (the scheme's draw times this).
    multiplier: factor on the layer's input in the forward pass (on ``W h``, not on the bias).
    lr_kernel: factor on the kernel's learning rate.
    lr_bias: factor on the bias's learning rate.
  """

  init: float = 1.0
  multiplier: float = 1.0
  lr_kernel: float = 1.0
  lr_bias: float = 1.0


@dataclasses.dataclass(frozen=True)
class Parametrization:
  """A named parametrization with its base width.

  Attributes:
    kind: ``"sp"``, ``"ntk"``, ``"mup"`` or ``"mean_field"``.
    base_width: the width ``n_0`` at which it equals SP (None for ``sp``, where it plays no part).
  """

  kind: str
  base_width: int | None = None

  @property
  def name(self) -> str:
    """The canonical string; :func:`get` rebuilds an equal object from it."""
    return names.format_call(self.kind, kwargs={} if self.kind == "sp" else
                             {"base_width": self.base_width})

  @property
  def rules(self) -> dict[str, Rule]:
    return TABLES[self.kind]


def _scaled(kind: str, base_width: int | None) -> Parametrization:
  if base_width is None:
    raise ValueError(f"parametrization {kind!r} needs the width it equals SP at, e.g. "
                     f"'{kind}(base_width=64)'")
  return Parametrization(kind, names.check_int("base_width", kind, base_width, 1))


def sp() -> Parametrization:
  """The standard parametrization: the scheme's draw, no multipliers, one learning rate."""
  return Parametrization("sp")


def ntk(base_width: int | None = None) -> Parametrization:
  """The NTK parametrization (Jacot et al. 2018), equal to SP at ``base_width``."""
  return _scaled("ntk", base_width)


def mup(base_width: int | None = None) -> Parametrization:
  """muP in Tensor Programs V's Table 3 form (no multipliers), equal to SP at ``base_width``."""
  return _scaled("mup", base_width)


def mean_field(base_width: int | None = None) -> Parametrization:
  """muP in multiplier form (the mean-field network for one hidden layer), equal to SP at
  ``base_width``."""
  return _scaled("mean_field", base_width)


FACTORIES: dict[str, Callable[..., Parametrization]] = {
    "sp": sp, "ntk": ntk, "mup": mup, "mean_field": mean_field}
ALIASES = {"standard": "sp", "mf": "mean_field", "mu_p": "mup"}


def known() -> list[str]:
  """The registered parametrization names."""
  return sorted(FACTORIES)


def get(name: str | Parametrization) -> Parametrization:
  """The :class:`Parametrization` a string names.

  Raises:
    ValueError: an unknown name (the message lists the known ones), or a width-scaled one without
      an int ``base_width >= 1``.

  >>> get("mup(base_width=64)").name
  'mup(base_width=64)'
  >>> get("standard").name
  'sp'
  """
  return names.lookup(name, Parametrization, FACTORIES, ALIASES, "parametrization",
                      example="mup(base_width=64)")


def hidden_width(widths: Sequence[int], kind: str = "mlp") -> int | None:
  """The width ``n`` the parametrization scales with: the common width of the hidden layers
  (``widths[:-1]``), or None when there is no hidden layer.

  Raises:
    ValueError: hidden widths that differ, or a model kind other than an MLP or residual MLP.
  """
  if kind not in ("mlp", "resmlp"):
    raise ValueError(f"width-scaled parametrizations are for 'mlp' and 'resmlp' models; got a "
                     f"{kind!r} (use 'sp')")
  hidden = set(widths[:-1])
  if len(hidden) > 1:
    raise ValueError(f"a width-scaled parametrization needs equal hidden widths, one n to scale "
                     f"with; got {tuple(widths)}")
  return hidden.pop() if hidden else None


def layer_roles(depth: int) -> tuple[str, ...]:
  """Each kernel's role in a model of ``depth >= 2`` layers, in layer order: ``input``, then
  ``hidden`` ones, then ``output``."""
  return ("input",) + ("hidden",) * (depth - 2) + ("output",)


def layer_scales(parametrization: str | Parametrization, widths: Sequence[int], kind: str = "mlp",
                 adaptive: bool = False) -> tuple[LayerScale, ...]:
  """Each dense layer's :class:`LayerScale` (``len(widths)`` of them) for a model of these widths.

  Args:
    parametrization: a name or :class:`Parametrization`.
    widths: the dense layers' output widths, the readout last; the hidden ones must be equal
      unless the parametrization is ``sp``.
    kind: the model kind (``"mlp"`` or ``"resmlp"``; ``sp`` accepts any).
    adaptive: the optimizer normalizes its update per coordinate (Adam-like; each optimizer says
      so: :attr:`jaxinit.engine.optimizers.Optimizer.adaptive`): the ``lr_adam`` exponents.

  >>> [s.lr_kernel for s in layer_scales("mup(base_width=64)", (256, 256, 10), adaptive=True)]
  [1.0, 0.25, 0.25]
  """
  p = get(parametrization)
  if p.kind == "sp":
    return (LayerScale(),) * len(widths)
  n = hidden_width(widths, kind)
  if n is None:
    return (LayerScale(),)
  m = n / p.base_width
  bias = p.rules["bias"]
  bias_lr = m ** (bias.lr_adam if adaptive else bias.lr_sgd)
  out = []
  for i, role in enumerate(layer_roles(len(widths))):
    r = p.rules[role]
    out.append(LayerScale(init=m ** r.init, multiplier=m ** r.multiplier,
                          lr_kernel=m ** (r.lr_adam if adaptive else r.lr_sgd),
                          lr_bias=1.0 if i == len(widths) - 1 else bias_lr))
  return tuple(out)


LEAF_ROLES = (*ROLES, "fixed")
"""A parameter's role in any model (:func:`infer_roles`): the four of :data:`ROLES`, or ``fixed``
(no dimension grows with width: never scaled)."""


def infer_roles(small: Mapping[str, tuple[int, ...]], large: Mapping[str, tuple[int, ...]]
                ) -> dict[str, str]:
  """Each parameter's role from its shape in the same model built at two widths (as
  microsoft/mup's ``set_base_shapes`` infers its "infinite" dimensions).

  The shapes are in fan form (:meth:`jaxinit.nets.protocol.Layout.draw_shape`: ``(*window, fan_in,
  fan_out)`` for a weight). A leaf of rank >= 2 is ``hidden`` when its fan-in and fan-out both grow,
  ``input`` when only its fan-out grows (an input layer, an embedding table), ``output`` when only its
  fan-in grows (the readout); a leaf of rank < 2 is ``bias`` when it grows (biases, normalization
  scales: vector-like); anything that does not grow is ``fixed``.

  Raises:
    ValueError: the two models have different parameters, different ranks, or a weight whose
      window (receptive field) grows.

  >>> infer_roles({"a/kernel": (3, 8), "b/kernel": (8, 8), "b/bias": (8,), "c/kernel": (8, 2)},
  ...             {"a/kernel": (3, 16), "b/kernel": (16, 16), "b/bias": (16,), "c/kernel": (16, 2)})
  {'a/kernel': 'input', 'b/kernel': 'hidden', 'b/bias': 'bias', 'c/kernel': 'output'}
  """
  if list(small) != list(large):
    other = sorted(set(small) ^ set(large))
    raise ValueError(f"the model has other parameters at another width: {other}; accepted: a "
                     "factory whose width changes only the parameters' sizes")
  roles = {}
  for path, a in small.items():
    b = large[path]
    if len(a) != len(b):
      raise ValueError(f"parameter {path} has shape {a} at one width and {b} at the other")
    grows = [x != y for x, y in zip(a, b, strict=True)]
    if len(a) < 2:
      roles[path] = "bias" if any(grows) else "fixed"
      continue
    if any(grows[:-2]):
      raise ValueError(f"parameter {path}'s window (receptive field) grows with width ({a} -> "
                       f"{b}); only its fan-in and fan-out may")
    roles[path] = {(False, True): "input", (True, True): "hidden", (True, False): "output",
                   (False, False): "fixed"}[grows[-2], grows[-1]]
  return roles


@dataclasses.dataclass(frozen=True)
class LeafScale:
  """What a parametrization does to one parameter at one width: ``init`` (factor on its draw),
  ``multiplier`` (the forward multiplier: the model sees ``multiplier * w``), ``lr`` (factor on its
  learning rate)."""

  init: float = 1.0
  multiplier: float = 1.0
  lr: float = 1.0


def leaf_scales(parametrization: str | Parametrization, roles: Mapping[str, str],
                width_multiplier: float, adaptive: bool = False) -> dict[str, LeafScale]:
  """Each parameter's :class:`LeafScale` under ``parametrization`` at width multiplier ``m = n /
  base_width``, from its role (:func:`infer_roles`): the exponents of :data:`TABLES` on ``m``;
  ``fixed`` parameters are never scaled. On the built-in MLP these are :func:`layer_scales`'s
  factors leaf by leaf (tested).

  >>> leaf_scales("mup(base_width=64)", {"w": "output", "b": "fixed"}, 4.0, adaptive=True)["w"]
  LeafScale(init=0.5, multiplier=1.0, lr=0.25)
  """
  p = get(parametrization)
  out = {}
  for path, role in roles.items():
    if role not in LEAF_ROLES:
      raise ValueError(f"unknown role {role!r} of {path}; accepted: {', '.join(LEAF_ROLES)}")
    if p.kind == "sp" or role == "fixed":
      out[path] = LeafScale()
      continue
    r = p.rules[role]
    m = width_multiplier
    out[path] = LeafScale(init=m ** r.init, multiplier=m ** r.multiplier,
                          lr=m ** (r.lr_adam if adaptive else r.lr_sgd))
  return out


def scale_by_leaf(lr: Mapping[str, float], path_of: Callable[[tuple], str]
                  ) -> optax.GradientTransformation:
  """The optax transformation that multiplies each parameter's update by its learning-rate factor
  ``lr[path]`` (1 where absent); ``path_of`` turns a pytree key path into the path string."""
  def update(updates: Any, params: Any = None) -> Any:
    del params

    def leaf(path: tuple, u: Any) -> Any:
      f = lr.get(path_of(path), 1.0)
      return u if f == 1.0 else u * jnp.asarray(f, u.dtype)
    return jax.tree_util.tree_map_with_path(leaf, updates)

  return optax.stateless(update)


def scale_by_layer(scales: Sequence[LayerScale]) -> optax.GradientTransformation:
  """The optax transformation that multiplies each layer's updates by its learning-rate factor:
  ``layer_<i>/kernel`` by ``scales[i].lr_kernel``, ``layer_<i>/bias`` and ``batch_norm_<i>/*`` by
  ``scales[i].lr_bias``, anything else (a residual gate) by 1. Chained after an optimizer whose
  learning rate is constant per leaf, it gives layer ``i`` the learning rate ``lr * factor``.

  Args:
    scales: one :class:`LayerScale` per layer (:meth:`jaxinit.nets.models.ModelConfig.layer_scales`).
  """
  def factor(path: tuple) -> float:
    prefix, _, index = str(getattr(path[0], "key", "")).rpartition("_")
    if prefix not in ("layer", "batch_norm") or not index.isdigit():
      return 1.0
    s = scales[int(index)]
    return s.lr_kernel if prefix == "layer" and path[-1].key == "kernel" else s.lr_bias

  def update(updates: Any, params: Any = None) -> Any:
    del params
    return jax.tree_util.tree_map_with_path(
        lambda path, u: u if factor(path) == 1.0 else u * jnp.asarray(factor(path), u.dtype),
        updates)

  return optax.stateless(update)


def scales_learning_rates(scales: Sequence[LayerScale]) -> bool:
  """Whether any layer's learning-rate factor differs from 1."""
  return any(s.lr_kernel != 1.0 or s.lr_bias != 1.0 for s in scales)


def with_base(name: str, base_width: int) -> str:
  """``name`` canonicalized, with ``base_width`` filled in when a width-scaled parametrization names
  none (``"mup"`` -> ``"mup(base_width=64)"``); ``sp`` and names that carry one are kept.

  >>> with_base("mup", 64), with_base("ntk(base_width=32)", 64), with_base("sp", 64)
  ('mup(base_width=64)', 'ntk(base_width=32)', 'sp')
  """
  kind, args, kwargs = names.parse(name)
  kind = names.parse(ALIASES.get(kind, kind))[0]
  if kind in FACTORIES and kind != "sp" and not args and "base_width" not in kwargs:
    return get(names.format_call(kind, kwargs={**kwargs, "base_width": base_width})).name
  return get(name).name
