r"""Deep convolutional networks in the model zoo: a vanilla CNN of any depth and a residual CNN.

Ordinary ``flax.linen`` modules that go through :mod:`jaxinit.nets.protocol` as a user's model
does (``--model jaxinit.nets.convnets:DeepCNN --model-args '{"depth": 32}'``).

:class:`DeepCNN` is the network of Xiao et al. (2018), "Dynamical Isometry and a Mean Field Theory
of CNNs" (ICML), §5: a 3 x 3 convolution to ``width`` channels, ``downsample`` stride-2 3 x 3
convolutions (MNIST: 28 -> 14 -> 7), then ``depth`` 3 x 3 convolutions of ``width -> width``
channels (``SAME`` or circular padding), global average pooling and a dense readout. Every
convolution is square in its channels after the first, so a delta-orthogonal kernel
(:func:`jaxinit.initializers.delta_orthogonal`) is an isometry of the centre tap. Kernels:
``layer_<i>/kernel`` ``(3, 3, c_in, c_out)``, then ``readout/kernel``.

:class:`ResNet` is a small ResNet (He et al. 2016, "Deep Residual Learning", CIFAR variant):
a stem convolution, three stages of ``blocks`` basic blocks at ``width``, ``2 width`` and
``4 width`` channels (the first block of stages 2 and 3 strides by 2 and projects its shortcut with a
1 x 1 convolution), optional BatchNorm after each convolution, global average pooling and a dense
readout. Paths: ``stem/conv``, ``stage_<s>_block_<b>/{conv_0,conv_1,shortcut}/{conv,bn}``,
``readout``. A block is ``x <- relu(s(x) + m * F(x))`` with ``F = conv-[BN]-relu-conv-[BN]``, ``s`` the
identity or the projection and ``m`` the ``branch_multiplier``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from jaxinit import activations

__all__ = ["DeepCNN", "ResNet"]


def _images(name: str, x: jax.Array) -> None:
  if x.ndim != 4:
    raise ValueError(f"{name} input must be images of shape (B, H, W, C); got shape {x.shape}")


class DeepCNN(nn.Module):
  """A vanilla CNN of any depth (module docstring): ``(B, H, W, C) -> (B, outputs)``.

  Attributes:
    width: channels of every convolution; depth: the ``width -> width`` convolutions after the
      downsampling; downsample: stride-2 convolutions before them; activation: the nonlinearity
      (:mod:`jaxinit.activations`); outputs: the readout's size; padding: Flax's ``Conv`` padding
      (``"SAME"`` zeros; ``"CIRCULAR"`` wraps around, so every pixel sees a full receptive field,
      as in Xiao et al.'s theory); use_bias: biases on every layer; dtype: the computation dtype.
  """

  width: int = 64
  depth: int = 8
  downsample: int = 2
  activation: str = "tanh"
  outputs: int = 10
  padding: str = "SAME"
  use_bias: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    _images("DeepCNN", x)
    act = activations.get(self.activation)
    h = x
    for i in range(1 + self.downsample + self.depth):
      stride = 2 if 1 <= i <= self.downsample else 1
      h = act(nn.Conv(self.width, (3, 3), strides=stride, padding=self.padding,
                      use_bias=self.use_bias, dtype=self.dtype, name=f"layer_{i}")(h))
    return nn.Dense(self.outputs, use_bias=self.use_bias, dtype=self.dtype,
                    name="readout")(h.mean(axis=(1, 2)))


class ResNet(nn.Module):
  """A small residual CNN (module docstring): ``(B, H, W, C) -> (B, outputs)``.

  Attributes:
    width: the first stage's channels (then ``2 width``, ``4 width``); blocks: basic blocks per
      stage; batch_norm: BatchNorm after each convolution (batch statistics in training, running
      averages in evaluation); branch_multiplier: ``m``; outputs, use_bias, dtype: as
      :class:`DeepCNN`.
  """

  width: int = 16
  blocks: int = 2
  batch_norm: bool = True
  branch_multiplier: float = 1.0
  outputs: int = 10
  use_bias: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    _images("ResNet", x)
    h = nn.relu(_ConvBN(self.width, 1, 3, self.batch_norm, self.use_bias, self.dtype,
                        name="stem")(x, train))
    for s in range(3):
      for b in range(self.blocks):
        h = _BasicBlock(self.width * 2 ** s, 2 if s > 0 and b == 0 else 1, self.batch_norm,
                        self.branch_multiplier, self.use_bias, self.dtype,
                        name=f"stage_{s}_block_{b}")(h, train)
    return nn.Dense(self.outputs, use_bias=self.use_bias, dtype=self.dtype,
                    name="readout")(h.mean(axis=(1, 2)))


class _ConvBN(nn.Module):
  """A convolution (``conv``), then BatchNorm (``bn``) when asked."""

  channels: int
  stride: int = 1
  size: int = 3
  batch_norm: bool = True
  use_bias: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, h: jax.Array, train: bool) -> jax.Array:
    h = nn.Conv(self.channels, (self.size, self.size), strides=self.stride, use_bias=self.use_bias,
                dtype=self.dtype, name="conv")(h)
    if self.batch_norm:
      h = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype, name="bn")(h)
    return h


class _BasicBlock(nn.Module):
  """``relu(s(x) + m * F(x))``, ``F = conv_0 - relu - conv_1`` (:class:`ResNet`)."""

  channels: int
  stride: int
  batch_norm: bool
  branch_multiplier: float
  use_bias: bool
  dtype: Any

  @nn.compact
  def __call__(self, h: jax.Array, train: bool) -> jax.Array:
    def conv(x: jax.Array, name: str, stride: int = 1, size: int = 3) -> jax.Array:
      return _ConvBN(self.channels, stride, size, self.batch_norm, self.use_bias, self.dtype,
                     name=name)(x, train)

    f = conv(nn.relu(conv(h, "conv_0", self.stride)), "conv_1")
    project = h.shape[-1] != self.channels or self.stride > 1
    skip = conv(h, "shortcut", self.stride, 1) if project else h
    return nn.relu(skip + self.branch_multiplier * f)
