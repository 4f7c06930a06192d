"""Flax modules whose kernel and bias initializers are arguments, and the architecture config.

The models are ``flax.linen`` modules: ``init(key, x)`` and ``apply(variables, x)`` are pure
functions of a params pytree, so a population is ``jax.vmap(model.init)`` over member keys and
training is ``jax.vmap`` of a pure step, with no module state to split and merge.

Every layer sows its preactivation ``z`` (``preact_<i>``) and, for hidden layers, its activation
``phi(z)`` (``act_<i>``) into the ``"intermediates"`` collection, in layer order. A plain ``apply``
ignores them; ``apply(..., mutable=["intermediates"])`` returns them, so diagnostics read the same
model that is trained. With ``batch_norm=True`` each hidden layer is Dense/Conv -> BatchNorm ->
activation and the sown ``preact_<i>`` is the normalized value, the input of the nonlinearity.

Layers are named ``layer_<i>`` (``i`` counting convolutions and dense layers together), so a kernel's
path, from which Flax derives its PRNG key, is the same in every model of the same architecture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxinit import activations, initializers, parametrizations

__all__ = ["MLP", "CNN", "ModelConfig", "build", "logits_and_intermediates", "per_example_loss", "KINDS",
           "LOSSES"]

KINDS = ("mlp", "cnn")
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

  def hidden(self, z: jax.Array, i: int, act: activations.Activation, batch_norm: bool,
             train: bool) -> jax.Array:
    if batch_norm:
      z = nn.BatchNorm(use_running_average=not train, dtype=self.dtype, name=f"batch_norm_{i}")(z)
    self.sow("intermediates", f"preact_{i}", z)
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
      h) = alpha W h + b``; :mod:`jaxinit.parametrizations`), or None for none.

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
        self.sow("intermediates", f"preact_{i}", z)
        return z
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
        self.sow("intermediates", f"preact_{i}", z)
        return z
      h, i = self.hidden(z, i, act, self.batch_norm, train), i + 1
    raise AssertionError("unreachable: widths is not empty")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """An architecture, without its initializers: what one compiled training program is for.

  Attributes:
    kind: ``"mlp"`` or ``"cnn"``.
    widths: dense widths, the last being the number of logits (1 = binary, sigmoid output).
    activation: hidden nonlinearity name (canonicalized, e.g. ``"leaky_relu(negative_slope=0.2)"``).
    batch_norm: BatchNorm after every hidden layer.
    channels: convolution channels (``"cnn"`` only; must be empty for ``"mlp"``).
    parametrization: how initialization, forward multipliers and learning rates scale with the
      hidden width (:mod:`jaxinit.parametrizations`): ``"sp"`` (the default), or e.g.
      ``"mup(base_width=64)"``; canonicalized. The others need equal hidden widths.
  """

  kind: str = "mlp"
  widths: tuple[int, ...] = (12, 6, 1)
  activation: str = "relu"
  batch_norm: bool = False
  channels: tuple[int, ...] = ()
  parametrization: str = parametrizations.DEFAULT

  def __post_init__(self) -> None:
    if self.kind not in KINDS:
      raise ValueError(f"unknown model kind {self.kind!r}; known: {', '.join(KINDS)}")
    for what, dims in (("widths", self.widths), ("channels", self.channels)):
      if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise ValueError(f"{what} must be positive ints; got {dims!r}")
    if not self.widths:
      raise ValueError("widths must name at least the output layer, e.g. (10,)")
    if self.kind == "mlp" and self.channels:
      raise ValueError(f"channels are for kind='cnn'; an mlp has none, got {self.channels!r}")
    if self.kind == "cnn" and len(self.channels) == 0:
      raise ValueError("a cnn needs at least one convolution in channels, e.g. (16, 32)")
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

  def layer_scales(self, adaptive: bool = False) -> tuple[parametrizations.LayerScale, ...]:
    """Each layer's init, multiplier and learning-rate factors under :attr:`parametrization`
    (:func:`jaxinit.parametrizations.layer_scales`; all 1 for ``sp``), convolutions first."""
    return ((parametrizations.LayerScale(),) * len(self.channels)
            + parametrizations.layer_scales(self.parametrization, self.widths, self.kind, adaptive))

  def without_parametrization(self) -> ModelConfig:
    """The same architecture in SP: what the scheme's draw is made on."""
    return dataclasses.replace(self, parametrization=parametrizations.DEFAULT)


def build(config: ModelConfig, kernel_init: Init | Sequence[Init] = DEFAULT_KERNEL_INIT,
          bias_init: Init | Sequence[Init] = DEFAULT_BIAS_INIT, dtype: Any = None) -> MLP | CNN:
  """The Flax module for ``config`` with the given initializers (one, or one per layer) and
  computation dtype (None: float32)."""
  common = dict(widths=config.widths, activation=config.activation, kernel_init=kernel_init,
                bias_init=bias_init, batch_norm=config.batch_norm, dtype=dtype)
  if config.kind == "cnn":
    return CNN(channels=config.channels, **common)
  multipliers = tuple(s.multiplier for s in config.layer_scales())
  return MLP(**common, multipliers=None if set(multipliers) == {1.0} else multipliers)


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
    model: an :class:`MLP` or :class:`CNN`.
    variables: ``{"params": ..., ["batch_stats": ...]}``.
    x: inputs of shape ``(B, ...)``.

  Returns:
    logits ``(B, num_outputs)`` and a dict ``preact_<i>``/``act_<i>`` -> array ``(B, ...)``, in layer
    order.
  """
  logits, state = model.apply(variables, x, mutable=["intermediates"])
  sown = state["intermediates"]
  return logits, {k: jnp.asarray(v[0]) for k, v in sown.items()}
