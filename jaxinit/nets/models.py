"""Flax modules whose kernel and bias initializers are arguments, and the architecture config.

The models are ``flax.linen`` modules: ``init(key, x)`` and ``apply(variables, x)`` are pure
functions of a params pytree, so a population is ``jax.vmap(model.init)`` over member keys and
training is ``jax.vmap`` of a pure step, with no module state to split and merge.

Every layer sows its preactivation ``z`` (``preact_<i>``) and, for hidden layers, its activation
``phi(z)`` (``act_<i>``) into the ``"intermediates"`` collection, in layer order. A plain ``apply``
ignores them; ``apply(..., mutable=["intermediates"])`` returns them, so diagnostics read the same
model that is trained. With ``batch_norm=True`` each hidden layer is Dense/Conv -> BatchNorm ->
activation and the sown ``preact_<i>`` is the normalized value, the input of the nonlinearity.
In every model ``act_<i> = phi(preact_<i>)`` is the input of layer ``i + 1``, and ``preact_<i>`` is
sown by :meth:`_Layers.sow_preact`, the one point where :mod:`jaxinit.studies.measure` perturbs it to
measure ``dL/dz``. (In a :class:`ResMLP` the preactivation after a residual block is the residual
stream, not the block's last dense output.)

Layers are named ``layer_<i>`` (``i`` counting convolutions and dense layers together), so a kernel's
path, from which Flax derives its PRNG key, is the same in every model of the same architecture.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxinit import activations, initializers
from jaxinit.nets import parametrizations

__all__ = ["MLP", "CNN", "ResMLP", "ModelConfig", "build", "logits_and_intermediates",
           "per_example_loss", "KINDS", "LOSSES", "BRANCH_MULTIPLIERS", "branch_multiplier"]

KINDS = ("mlp", "cnn", "resmlp")
BRANCH_MULTIPLIERS = ("1", "1/sqrt(depth)")
"""A residual MLP's constant branch multiplier ``beta``: 1, or ``1/sqrt(L)`` with ``L`` the number of
residual blocks (depth-muP: Yang et al. 2023, "Tensor Programs VI"; Bordelon et al. 2023)."""
_BRANCH_ALIASES = {"1": "1", "1.0": "1", "1/sqrt(depth)": "1/sqrt(depth)",
                   "1/sqrt(l)": "1/sqrt(depth)", "1/sqrt(blocks)": "1/sqrt(depth)"}
Init = initializers.Initializer | nn.initializers.Initializer
DEFAULT_KERNEL_INIT = initializers.lecun_normal()
"""Flax's own default for Dense and Conv kernels."""
DEFAULT_BIAS_INIT = initializers.zeros()


def _layer_inits(init: Init | Sequence[Init], count: int, what: str) -> tuple[Init, ...]:
  """One initializer per layer: a single one repeated, or a sequence of exactly ``count``."""
  if callable(init):
    return (init,) * count
  inits = tuple(init)
  if len(inits) != count or not all(callable(i) for i in inits):
    raise ValueError(f"{what} must be one initializer or a sequence of {count} (one per layer); "
                     f"got {len(inits)} entries")
  return inits


class _Layers(nn.Module):
  """What both models share: per-layer initializers, and a hidden layer's BatchNorm and nonlinearity.

  Subclasses declare ``activation``, ``kernel_init``, ``bias_init`` and ``batch_norm``.
  """

  def layer_setup(self, count: int) -> tuple[activations.Activation, tuple[Init, ...],
                                              tuple[Init, ...]]:
    """The activation and one kernel and one bias initializer for each of ``count`` layers."""
    return (activations.get(self.activation), _layer_inits(self.kernel_init, count, "kernel_init"),
            _layer_inits(self.bias_init, count, "bias_init"))

  def sow_preact(self, z: jax.Array, i: int) -> jax.Array:
    """Sows ``z`` as ``preact_<i>`` and returns it unchanged: the point where
    :mod:`jaxinit.studies.measure` adds a zero perturbation (a method interceptor) to measure
    ``dL/dz``."""
    self.sow("intermediates", f"preact_{i}", z)
    return z

  def hidden(self, z: jax.Array, i: int, act: activations.Activation, batch_norm: bool,
             train: bool) -> jax.Array:
    """``phi(BatchNorm(z))`` (or ``phi(z)``), sowing the nonlinearity's input as ``preact_<i>`` and
    its output as ``act_<i>``; BatchNorm is named ``batch_norm_<i>``."""
    if batch_norm:
      z = nn.BatchNorm(use_running_average=not train, dtype=self.dtype, name=f"batch_norm_{i}")(z)
    z = self.sow_preact(z, i)
    h = act(z)
    self.sow("intermediates", f"act_{i}", h)
    return h


class MLP(_Layers):
  """A fully connected network ``x -> Dense -> phi -> ... -> Dense`` returning logits.

  Attributes:
    widths: output widths of the dense layers, the last being the number of logits, e.g. ``(12, 6,
      1)`` for the moons network (2 -> 12 -> 6 -> 1).
    activation: the hidden nonlinearity, a name from :mod:`jaxinit.activations`.
    kernel_init: one initializer for every kernel, or one per layer.
    bias_init: one initializer for every bias, or one per layer.
    batch_norm: BatchNorm after every hidden dense layer.
    dtype: the computation dtype (e.g. ``jnp.bfloat16`` for mixed precision: float32 parameters,
      bfloat16 matmuls and activations); None computes in the parameters' float32.
    multipliers: one forward multiplier per layer, applied to the layer's input (``Dense(alpha *
      h) = alpha W h + b``; :mod:`jaxinit.nets.parametrizations`), or None for none.

  Called as ``model.apply(variables, x, train=False)`` with ``x`` of shape ``(B, ...)`` (flattened to
  ``(B, D)``); returns logits of shape ``(B, widths[-1])``.
  """

  widths: Sequence[int]
  activation: str = "relu"
  kernel_init: Init | Sequence[Init] = DEFAULT_KERNEL_INIT
  bias_init: Init | Sequence[Init] = DEFAULT_BIAS_INIT
  batch_norm: bool = False
  dtype: Any = None
  multipliers: Sequence[float] | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    n = len(self.widths)
    act, k_inits, b_inits = self.layer_setup(n)
    h = x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.widths):
      z = nn.Dense(width, kernel_init=k_inits[i], bias_init=b_inits[i], dtype=self.dtype,
                   name=f"layer_{i}")(_times(h, self.multipliers, i))
      if i == n - 1:
        return self.sow_preact(z, i)
      h = self.hidden(z, i, act, self.batch_norm, train)
    raise AssertionError("unreachable: widths is not empty")


def _times(h: jax.Array, multipliers: Sequence[float] | None, i: int) -> jax.Array:
  """``h`` times layer ``i``'s forward multiplier (unchanged when there is none or it is 1)."""
  if multipliers is None or multipliers[i] == 1.0:
    return h
  return h * jnp.asarray(multipliers[i], h.dtype)


class CNN(_Layers):
  """A small CNN for 28x28 images: conv-conv-maxpool-dense, returning logits.

  ``(B, 28, 28, C) -> Conv3x3(channels[0]) -> phi -> Conv3x3(channels[1]) -> phi -> MaxPool 2x2 ->
  flatten -> Dense(widths[0]) -> phi -> ... -> Dense(widths[-1])``. Layers are numbered
  convolutions first, then dense layers.

  Attributes:
    channels: output channels of the convolutions (SAME padding, stride 1).
    widths: dense widths after pooling; the last is the number of logits.
    activation, kernel_init, bias_init, batch_norm, dtype: as for :class:`MLP`; one initializer per
      layer means ``len(channels) + len(widths)`` of them.
  """

  channels: Sequence[int] = (16, 32)
  widths: Sequence[int] = (128, 10)
  activation: str = "relu"
  kernel_init: Init | Sequence[Init] = DEFAULT_KERNEL_INIT
  bias_init: Init | Sequence[Init] = DEFAULT_BIAS_INIT
  batch_norm: bool = False
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    act, k_inits, b_inits = self.layer_setup(len(self.channels) + len(self.widths))
    if x.ndim != 4:
      raise ValueError(f"CNN input must have shape (B, H, W, C); got shape {x.shape}")
    h, i = x, 0
    for c in self.channels:
      z = nn.Conv(c, (3, 3), kernel_init=k_inits[i], bias_init=b_inits[i], dtype=self.dtype,
                  name=f"layer_{i}")(h)
      h, i = self.hidden(z, i, act, self.batch_norm, train), i + 1
    h = nn.max_pool(h, (2, 2), strides=(2, 2)).reshape(x.shape[0], -1)
    for j, width in enumerate(self.widths):
      z = nn.Dense(width, kernel_init=k_inits[i], bias_init=b_inits[i], dtype=self.dtype,
                   name=f"layer_{i}")(h)
      if j == len(self.widths) - 1:
        return self.sow_preact(z, i)
      h, i = self.hidden(z, i, act, self.batch_norm, train), i + 1
    raise AssertionError("unreachable: widths is not empty")


class ResMLP(_Layers):
  r"""A residual MLP with pre-activation blocks, returning logits.

  With ``L`` blocks, ``widths = (n,) * (1 + 2L) + (num_outputs,)``: ``layer_0`` projects the input
  to width ``n``, block ``b`` (``b = 0 .. L-1``) is the dense layers ``layer_<2b+1>`` and
  ``layer_<2b+2>``, and the last layer is the readout:

  .. math::
     h_0 = W_0 x + b_0, \qquad h_{b+1} = h_b + g_b\,\beta\,
     \mathrm{Dense}_{2b+2}\big(\phi(\mathrm{Dense}_{2b+1}(\phi(h_b)))\big), \qquad
     f(x) = \mathrm{Dense}_{2L+1}(\phi(h_L)),

  with ``g_b`` a learned scalar per block (the param ``gate_<b>``, initialized to 1: Fixup's scalar
  multiplier, SkipInit's and ReZero's ``alpha``) and ``beta`` the constant
  :attr:`branch_multiplier`. With ``batch_norm=True`` a BatchNorm precedes every nonlinearity.

  Sown intermediates (the conventions of :class:`MLP`: ``act_<i> = phi(preact_<i>)`` is the input
  of layer ``i + 1``, and ``batch_norm_<i>`` produces ``preact_<i>``):

  * ``preact_<2b>`` is the residual stream ``h_b`` (normalized with BatchNorm), the input of the
    nonlinearity in front of layer ``2b + 1`` or of the readout (``b = L``): for ``b = 0`` the output of
    ``layer_0``, for ``b >= 1`` the stream that ``layer_<2b>`` (block ``b - 1``'s last layer) writes
    into; ``preact_<2b+1>`` is the output of ``layer_<2b+1>``, a branch's first layer; the
    readout's ``preact`` is the logits. So the per-layer statistics of :mod:`jaxinit.studies.measure`
    follow the stream at every block, and its ``grad_preact`` there is ``dL/dh_b`` through both the
    skip path and the branch (with BatchNorm: ``dL/dBN(h_b)``, the normalized copy that feeds only
    the branch or the readout).
  * ``resid_<b>`` (``b = 0 .. L``): the residual stream ``h_b`` itself, never normalized.
  * ``branch_<b>`` (``b = 0 .. L-1``): what block ``b`` adds, ``g_b beta Dense_{2b+2}(...)``.

  Signal propagation at initialization (zero biases, kernels independent of the stream, infinite
  width): the stream's second moment :math:`q_b = E[h_b^2]` obeys

  .. math:: q_{b+1} = q_b + \beta^2 g_b^2 V_b, \qquad V_b = E[\mathrm{Dense}_{2b+2}(\ldots)^2],

  the branch adding an uncorrelated term (its last kernel has mean 0). With ReLU and He kernels and no
  normalization the branch preserves its input's second moment, ``V_b = q_b``, so
  :math:`q_L = (1 + \beta^2)^L q_0`: ``2^L q_0``, exponential in ``L``, for ``beta = 1``, and
  :math:`(1 + 1/L)^L q_0 < e\,q_0`, bounded in ``L``, for ``beta = 1/sqrt(L)``. With BatchNorm in
  front of each nonlinearity the branch sees a unit-variance input, ``V_b = 1``, and
  :math:`q_L = q_0 + \beta^2 L`: linear in ``L`` for ``beta = 1`` (De & Smith 2020, §2), ``q_0 + 1``
  for ``beta = 1/sqrt(L)``. SkipInit (``g = 0``) and Fixup (last branch layer 0) make
  ``g_b^2 V_b = 0`` at initialization: ``q_b = q_0`` at every depth. (Tested against a
  Monte-Carlo ensemble.)

  Attributes:
    widths: output widths of the dense layers, ``(n,) * (1 + 2L) + (num_outputs,)`` with ``L >= 1``.
    activation, kernel_init, bias_init, batch_norm, dtype, multipliers: as for :class:`MLP` (one
      initializer or multiplier per dense layer, ``len(widths)`` of them).
    branch_multiplier: the constant ``beta`` on every branch (:func:`branch_multiplier`).

  Called as ``model.apply(variables, x, train=False)`` with ``x`` of shape ``(B, ...)`` (flattened to
  ``(B, D)``); returns logits of shape ``(B, widths[-1])``.

  References:
    He et al. 2016, "Identity Mappings in Deep Residual Networks" (pre-activation blocks);
    Zhang, Dauphin & Ma 2019, "Fixup Initialization"; De & Smith 2020, "Batch Normalization Biases
    Residual Blocks Towards the Identity Function in Deep Networks" (SkipInit); Bachlechner et al.
    2020, "ReZero is All You Need"; Yang et al. 2023, "Tensor Programs VI: Feature Learning in
    Infinite-Depth Neural Networks".
  """

  widths: Sequence[int]
  activation: str = "relu"
  kernel_init: Init | Sequence[Init] = DEFAULT_KERNEL_INIT
  bias_init: Init | Sequence[Init] = DEFAULT_BIAS_INIT
  batch_norm: bool = False
  dtype: Any = None
  multipliers: Sequence[float] | None = None
  branch_multiplier: float = 1.0

  @property
  def blocks(self) -> int:
    """The number of residual blocks ``L``."""
    return _blocks(self.widths)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    n = len(self.widths)
    blocks = self.blocks
    act, k_inits, b_inits = self.layer_setup(n)

    def dense(i: int, h: jax.Array) -> jax.Array:
      return nn.Dense(self.widths[i], kernel_init=k_inits[i], bias_init=b_inits[i], dtype=self.dtype,
                      name=f"layer_{i}")(_times(h, self.multipliers, i))

    def stream(h: jax.Array, i: int) -> tuple[jax.Array, jax.Array]:
      """The stream (through the preact tap when it is the preactivation) and phi of it (normed)."""
      if self.batch_norm:
        return h, self.hidden(h, i, act, True, train)
      h = self.sow_preact(h, i)  # the stream itself: dL/dz here is dL/dh_b, skip path included
      a = act(h)
      self.sow("intermediates", f"act_{i}", a)
      return h, a

    h = dense(0, x.reshape(x.shape[0], -1))
    self.sow("intermediates", "resid_0", h)
    for b in range(blocks):
      h, a = stream(h, 2 * b)
      a = self.hidden(dense(2 * b + 1, a), 2 * b + 1, act, self.batch_norm, train)
      gate = self.param(f"gate_{b}", nn.initializers.ones, (), jnp.float32)
      z = dense(2 * b + 2, a)
      scale = gate if self.branch_multiplier == 1.0 else gate * self.branch_multiplier
      branch = scale.astype(z.dtype) * z
      self.sow("intermediates", f"branch_{b}", branch)
      h = h + branch
      self.sow("intermediates", f"resid_{b + 1}", h)
    return self.sow_preact(dense(n - 1, stream(h, n - 2)[1]), n - 1)


def _blocks(widths: Sequence[int]) -> int:
  """The number of residual blocks ``L`` of a residual MLP's widths, ``(n,) * (1 + 2L) + (k,)``.

  Raises:
    ValueError: widths of another form.
  """
  form = ("accepted: (n,) * (1 + 2L) + (num_outputs,) with L >= 1 blocks (an input projection, two "
          "dense layers per block, the readout)")
  branch_layers = len(widths) - 2
  if branch_layers < 2 or branch_layers % 2:
    raise ValueError(f"a resmlp's widths {tuple(widths)} give {max(branch_layers, 0)} branch layers, "
                     f"not an even number >= 2; {form}")
  if len(set(widths[:-1])) != 1:
    raise ValueError(f"a resmlp's hidden widths must all be equal (the residual stream's width); got "
                     f"{tuple(widths)}; {form}")
  return branch_layers // 2


def branch_multiplier(name: str, blocks: int) -> float:
  """The value of a branch multiplier name (:data:`BRANCH_MULTIPLIERS`) for ``blocks`` blocks.

  >>> branch_multiplier("1/sqrt(depth)", 16)
  0.25
  """
  name = _canonical_branch_multiplier(name)
  return 1.0 if name == "1" else 1.0 / math.sqrt(blocks)


def _canonical_branch_multiplier(name: str) -> str:
  key = "".join(name.split()).lower() if isinstance(name, str) else None
  if key not in _BRANCH_ALIASES:
    raise ValueError(f"unknown branch_multiplier {name!r}; accepted: {', '.join(BRANCH_MULTIPLIERS)} "
                     "(1/sqrt(depth): one over the square root of the number of residual blocks)")
  return _BRANCH_ALIASES[key]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """An architecture, without its initializers: what one compiled training program is for.

  Attributes:
    kind: ``"mlp"``, ``"cnn"`` or ``"resmlp"`` (:class:`ResMLP`).
    widths: dense widths, the last being the number of logits (1 = binary, sigmoid output); for a
      ``"resmlp"``, ``(n,) * (1 + 2L) + (num_outputs,)`` with ``L >= 1`` residual blocks.
    activation: hidden nonlinearity name (canonicalized, e.g. ``"leaky_relu(negative_slope=0.2)"``).
    batch_norm: BatchNorm after every hidden layer.
    channels: convolution channels (``"cnn"`` only; must be empty for ``"mlp"``).
    parametrization: how initialization, forward multipliers and learning rates scale with the
      hidden width (:mod:`jaxinit.nets.parametrizations`): ``"sp"`` (the default), or e.g.
      ``"mup(base_width=64)"``; canonicalized. The others need equal hidden widths.
    branch_multiplier: a ``"resmlp"``'s constant ``beta`` on every residual branch
      (:data:`BRANCH_MULTIPLIERS`): ``"1"`` (the default, and the only value for other kinds) or
      ``"1/sqrt(depth)"``, one over the square root of the number of blocks :attr:`blocks`
      (depth-muP); canonicalized.
  """

  kind: str = "mlp"
  widths: tuple[int, ...] = (12, 6, 1)
  activation: str = "relu"
  batch_norm: bool = False
  channels: tuple[int, ...] = ()
  parametrization: str = parametrizations.DEFAULT
  branch_multiplier: str = "1"

  def __post_init__(self) -> None:
    if self.kind not in KINDS:
      raise ValueError(f"unknown model kind {self.kind!r}; known: {', '.join(KINDS)}")
    for what, dims in (("widths", self.widths), ("channels", self.channels)):
      if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise ValueError(f"{what} must be positive ints; got {dims!r}")
    if not self.widths:
      raise ValueError("widths must name at least the output layer, e.g. (10,)")
    if self.kind != "cnn" and self.channels:
      raise ValueError(f"channels are for kind='cnn'; a {self.kind} has none, got {self.channels!r}")
    if self.kind == "cnn" and len(self.channels) == 0:
      raise ValueError("a cnn needs at least one convolution in channels, e.g. (16, 32)")
    if self.kind == "resmlp":
      _blocks(self.widths)
    object.__setattr__(self, "branch_multiplier",
                       _canonical_branch_multiplier(self.branch_multiplier))
    if self.kind != "resmlp" and self.branch_multiplier != "1":
      raise ValueError(f"branch_multiplier={self.branch_multiplier!r} is for kind='resmlp' (a "
                       f"residual branch's multiplier); a {self.kind} accepts only '1'")
    object.__setattr__(self, "activation", activations.get(self.activation).name)
    object.__setattr__(self, "parametrization", parametrizations.get(self.parametrization).name)
    self.layer_scales()

  @property
  def depth(self) -> int:
    """The number of layers with a kernel."""
    return len(self.channels) + len(self.widths)

  @property
  def num_outputs(self) -> int:
    return self.widths[-1]

  @property
  def blocks(self) -> int:
    """The number of residual blocks ``L`` (0 for the kinds without them)."""
    return _blocks(self.widths) if self.kind == "resmlp" else 0

  def layer_scales(self, adaptive: bool = False) -> tuple[parametrizations.LayerScale, ...]:
    """Each layer's init, multiplier and learning-rate factors under :attr:`parametrization`
    (:func:`jaxinit.nets.parametrizations.layer_scales`; all 1 for ``sp``), convolutions first."""
    return ((parametrizations.LayerScale(),) * len(self.channels)
            + parametrizations.layer_scales(self.parametrization, self.widths, self.kind, adaptive))

  def at_width(self, width: int) -> ModelConfig:
    """The same model with every hidden width (all dense widths but the readout's) set to
    ``width``: one point of a width sweep.

    >>> ModelConfig(widths=(64, 64, 10)).at_width(256).widths
    (256, 256, 10)
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
      raise ValueError(f"a hidden width must be an int >= 1; got {width!r}")
    return dataclasses.replace(self, widths=(width,) * (len(self.widths) - 1) + self.widths[-1:])

  def without_parametrization(self) -> ModelConfig:
    """The same architecture in SP: what the scheme's draw is made on."""
    return dataclasses.replace(self, parametrization=parametrizations.DEFAULT)


def build(config: ModelConfig, kernel_init: Init | Sequence[Init] = DEFAULT_KERNEL_INIT,
          bias_init: Init | Sequence[Init] = DEFAULT_BIAS_INIT, dtype: Any = None
          ) -> MLP | CNN | ResMLP:
  """The Flax module for ``config`` with the given initializers (one, or one per layer) and
  computation dtype (None: float32)."""
  common = dict(widths=config.widths, activation=config.activation, kernel_init=kernel_init,
                bias_init=bias_init, batch_norm=config.batch_norm, dtype=dtype)
  if config.kind == "cnn":
    return CNN(channels=config.channels, **common)
  multipliers = tuple(s.multiplier for s in config.layer_scales())
  common["multipliers"] = None if set(multipliers) == {1.0} else multipliers
  if config.kind == "resmlp":
    return ResMLP(**common, branch_multiplier=branch_multiplier(config.branch_multiplier,
                                                                 config.blocks))
  return MLP(**common)


LOSSES = ("cross_entropy", "mse")
"""Training losses: the cross-entropies, or the squared error on one-hot targets."""


def per_example_loss(logits: jax.Array, y: jax.Array, loss: str = "cross_entropy"
                     ) -> tuple[jax.Array, jax.Array]:
  r"""The training loss and correctness per example, each shape ``(B,)``.

  One logit (``(B, 1)``) is binary, labels in {0, 1}, correct when the logit's sign matches; more
  logits, integer labels, correct at the argmax.

  Args:
    logits: ``(B, num_outputs)``.
    y: ``(B,)`` integer labels.
    loss: ``"cross_entropy"``: sigmoid (binary) or softmax cross-entropy. ``"mse"``: half the
      squared error of the raw outputs against one-hot targets, :math:`\frac12\sum_k (f_k -
      e_{y,k})^2` (the loss of kernel and signal-propagation theory, whose gradient is ``f - e_y``);
      one logit's target is ``2y - 1`` (+-1), so the decision stays at ``logit > 0``.
  """
  logits = logits.astype(jnp.float32)  # the loss in float32 under mixed precision too
  if loss not in LOSSES:
    raise ValueError(f"unknown loss {loss!r}; accepted: {', '.join(LOSSES)}")
  if logits.shape[-1] == 1:
    z = logits[:, 0]
    correct = (z > 0) == (y == 1)
    if loss == "mse":
      return 0.5 * (z - (2 * y - 1).astype(z.dtype)) ** 2, correct
    return optax.sigmoid_binary_cross_entropy(z, y.astype(z.dtype)), correct
  correct = jnp.argmax(logits, axis=-1) == y
  if loss == "mse":
    return 0.5 * jnp.sum((logits - jax.nn.one_hot(y, logits.shape[-1])) ** 2, axis=-1), correct
  return optax.softmax_cross_entropy_with_integer_labels(logits, y), correct


def logits_and_intermediates(model: nn.Module, variables: dict, x: jax.Array
                             ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Applies ``model`` in eval mode and returns ``(logits, {name: array})`` of the sown values.

  Args:
    model: an :class:`MLP`, :class:`CNN` or :class:`ResMLP`.
    variables: ``{"params": ..., ["batch_stats": ...]}``.
    x: inputs of shape ``(B, ...)``.

  Returns:
    logits ``(B, num_outputs)`` and a dict ``preact_<i>``/``act_<i>`` (and a residual MLP's
    ``resid_<b>``, ``branch_<b>``) -> array ``(B, ...)``, in the order they were sown.
  """
  logits, state = model.apply(variables, x, mutable=["intermediates"])
  sown = state["intermediates"]
  return logits, {k: jnp.asarray(v[0]) for k, v in sown.items()}
