"""Where a population trains and in which pieces: size buckets, chunks and the memory it needs.

A population of ``M`` members is padded to a *size bucket* (:func:`bucket`: ``M`` rounded up to four
significant bits, at most 1/8 more, then to a multiple of the device count) with copies of member 0,
so that populations of nearby sizes share one compiled program; the copies train like member 0 and
never reach a record. When the population does not fit on the devices at once, it trains in
*chunks* that take turns through the same program, the others waiting in host memory. :func:`plan`
decides all of this once, before training, from :func:`member_bytes` and the memory there is, and
refuses (with the estimate) a population that cannot fit at all.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from jaxinit import data as datasets
from jaxinit.engine import population as pop
from jaxinit.engine import sharding
from jaxinit.nets import models, protocol

__all__ = ["Plan", "plan", "check_data", "bucket", "padded_members", "MemoryEstimate", "member_bytes",
           "plan_population", "free_bytes", "host_available_bytes", "working_bytes",
           "members_that_fit", "HOST_HEADROOM"]

HOST_HEADROOM = 0.8
"""The fraction of the host's available memory a population's state may take."""


def bucket(members: int) -> int:
  """The population size a compiled program is built for: ``members`` rounded up to its four most
  significant bits (at most 1/8 more), so that nearby sizes share one program.

  >>> [bucket(m) for m in (1, 7, 16, 17, 18, 96, 97, 1000)]
  [1, 7, 16, 18, 18, 96, 104, 1024]
  """
  if members < 1:
    raise ValueError(f"bucket: members={members}; accepted: an int >= 1")
  step = 2 ** max(0, members.bit_length() - 4)
  return math.ceil(members / step) * step


class Plan(NamedTuple):
  """Where and in which pieces a population of ``members`` trains.

  Attributes:
    members: the population size ``M``.
    count: the padded size every stacked array has (``>= members``; a multiple of ``chunk``).
    chunk: members trained at once on the devices; ``chunk == count``: all at once, else the
      chunks take turns through the same compiled program, the others waiting in host memory.
    mesh: the 1-D mesh the model axis is sharded over, or None (one device).
  """

  members: int
  count: int
  chunk: int
  mesh: Mesh | None

  @property
  def devices(self) -> int:
    return 1 if self.mesh is None else self.mesh.size

  @property
  def chunked(self) -> bool:
    return self.chunk < self.count


def plan(members: int, mesh: Mesh | None = None, max_members_per_chunk: int | None = None) -> Plan:
  """The :class:`Plan` of a population: its size bucket, chunks and mesh.

  Args:
    members: the population size ``M`` >= 1.
    mesh: the devices (:func:`population_mesh`), or None for one device.
    max_members_per_chunk: train at most this many members at a time (rounded down to a multiple
      of the device count, at least one per device); None: all at once.

  Raises:
    ValueError: ``members < 1`` or ``max_members_per_chunk < 1``.
  """
  devices = 1 if mesh is None else mesh.size
  if max_members_per_chunk is not None and max_members_per_chunk < 1:
    raise ValueError(f"max_members_per_chunk={max_members_per_chunk}; accepted: an int >= 1")
  count = sharding.padded_count(bucket(members), devices)
  if max_members_per_chunk is None or max_members_per_chunk >= count:
    return Plan(members, count, count, mesh)
  chunk = max(devices, max_members_per_chunk // devices * devices)
  return Plan(members, sharding.padded_count(members, chunk), chunk, mesh)


def padded_members(members: Sequence[pop.Member], count: int) -> list[pop.Member]:
  """``members`` followed by copies of member 0 up to ``count`` (the padding of a :class:`Plan`)."""
  return [*members, *[members[0]] * (count - len(members))]


class MemoryEstimate(NamedTuple):
  """One member's memory during an epoch, in bytes.

  Attributes:
    state: what it keeps between epochs (parameters, optimizer state, batch statistics; float32).
    work: what one step needs besides (gradients and the activations of one minibatch, or of the
      whole training set when full batch, kept for the backward pass); evaluation runs in smaller
      chunks and is not counted.
  """

  state: int
  work: int

  @property
  def total(self) -> int:
    return self.state + self.work


def activations_per_example(model_cfg: models.ModelConfig | protocol.Model,
                            input_shape: Sequence[int]) -> int:
  """The float entries a forward pass keeps per example, from shapes alone: twice the output of
  every layer (:meth:`jaxinit.nets.protocol.Model.layer_shapes`: its output and the nonlinearity's
  after it); a model that exposes no layer output counts its outputs twice."""
  model = protocol.of(model_cfg)
  x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
  sizes = [math.prod(shape[1:]) for shape in model.layer_shapes(x).values()]
  return 2 * (sum(sizes) if sizes else math.prod(model.output_shape(x)[1:]))


def member_bytes(model_cfg: models.ModelConfig | protocol.Model, cfg: Any,
                 input_shape: Sequence[int], n_train: int) -> MemoryEstimate:
  """An estimate of one member's memory during an epoch (:class:`MemoryEstimate`), from the shapes
  alone (nothing is compiled or allocated)."""
  model = protocol.of(model_cfg)
  x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  params = sum(math.prod(v.shape) for v in jax.tree.leaves(variables))
  per_example = activations_per_example(model, input_shape)
  batch = n_train if cfg.batch_size is None else cfg.batch_size
  return MemoryEstimate(state=4 * 2 * params, work=4 * (params + 2 * batch * per_example))


def _gb(n: float) -> str:
  return f"{n / 1e9:.3g} GB"


def plan_population(model_cfg: models.ModelConfig | protocol.Model, cfg: Any, members: int,
                    input_shape: Sequence[int], n_train: int, mesh: Any = "auto",
                    max_members_per_chunk: int | None = None) -> Plan:
  """Where and in which chunks a population trains, checked against the memory there is.

  The population's state (:class:`MemoryEstimate` ``state`` per member) lives on the devices when
  it fits, else in host memory with the members trained in chunks; without
  ``max_members_per_chunk`` the chunk size comes from the devices' free memory (half of it; on
  the CPU, from the host's available memory).

  Args:
    model_cfg, cfg: the architecture and training.
    members: the population size ``M``.
    input_shape, n_train: one example's shape and the training set's size.
    mesh: ``"auto"`` (every device when there are several), a Mesh, or None (one device).
    max_members_per_chunk: train at most this many at a time; None: as many as fit.

  Returns:
    The :class:`Plan`.

  Raises:
    ValueError: a population that cannot fit (the message gives the estimate, what is available
      and what helps), or ``max_members_per_chunk < 1``.
  """
  mesh = sharding.population_mesh() if mesh == "auto" else mesh
  devices = 1 if mesh is None else mesh.size
  need = member_bytes(model_cfg, cfg, input_shape, n_train)
  free, on_cpu = working_bytes()
  host = free if on_cpu else host_available_bytes()  # on the CPU, working_bytes read it already
  if max_members_per_chunk is None:
    max_members_per_chunk = members_that_fit(need.total, free, devices)
  chosen = plan(members, mesh, max_members_per_chunk)
  resident = chosen.count * need.state + (chosen.chunk * need.work if on_cpu else 0)
  if host is not None and chosen.chunked and resident > HOST_HEADROOM * host:
    raise ValueError(
        f"a population of {members} members needs about {_gb(resident)} of host memory "
        f"({_gb(need.state)} of parameters and optimizer state per member, kept between chunks); "
        f"{_gb(host)} is available; train fewer members (--seeds, --schemes, the grid's axes)")
  if chosen.chunk * need.total > (free if free is not None else math.inf):
    raise ValueError(
        f"one chunk of {chosen.chunk} members needs about {_gb(chosen.chunk * need.total)} "
        f"({_gb(need.total)} per member); {_gb(free)} is free; lower --max-members-per-chunk")
  return chosen


def free_bytes(devices: Sequence[jax.Device] | None = None) -> int | None:
  """The smallest free memory (``bytes_limit - bytes_in_use``) over ``devices`` (default: the
  local ones), or None where the backend does not report it (the CPU)."""
  free = []
  for device in jax.local_devices() if devices is None else devices:
    stats = device.memory_stats()
    if not stats or "bytes_limit" not in stats:
      return None
    free.append(int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))
  return min(free) if free else None


def working_bytes() -> tuple[int | None, bool]:
  """The memory new arrays can take on the devices: ``(free_bytes(), False)``, or on the CPU,
  which reports none, ``(host_available_bytes(), True)``."""
  free = free_bytes()
  return (free, False) if free is not None else (host_available_bytes(), True)


def check_data(name: str, data_dir: str | os.PathLike[str] | None = None) -> None:
  """Refuses a dataset larger than the host memory available, before it is built
  (:func:`jaxinit.data.nbytes`; a ``tfds:NAME`` set sized from its builder's info in ``data_dir``).

  Raises:
    ValueError: the estimate and what is available, and what to change.
  """
  need, host = datasets.nbytes(name, data_dir), host_available_bytes()
  if host is not None and need > HOST_HEADROOM * host:
    raise ValueError(f"dataset {name} needs about {_gb(need)} of host memory and {_gb(host)} is "
                     "available; choose a smaller one (gaussian's dim, n, n_test; an image set's "
                     "n_train, n_test, e.g. tfds:cifar10(n_train=10000))")


def host_available_bytes() -> int | None:
  """The host memory available to new allocations (Linux ``MemAvailable``; else free pages), or
  None where neither is reported."""
  try:
    with open("/proc/meminfo", encoding="ascii") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  try:
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
  except (ValueError, OSError, AttributeError):
    return None


def members_that_fit(member_bytes: int, free: int | None, devices: int = 1,
                     headroom: float = 0.5) -> int | None:
  """How many members fit at once: ``headroom`` of each device's free memory divided by one
  member's bytes, times the device count; None when ``free`` is unknown (no limit)."""
  if free is None:
    return None
  if member_bytes <= 0:
    raise ValueError(f"members_that_fit: member_bytes={member_bytes}; accepted: > 0")
  return max(1, int(headroom * free) // member_bytes) * devices
