"""The population's model axis over several devices: a 1-D mesh, padding, and host transfers.

One device: nothing here is used and the model axis is simply vmapped. Several devices (GPUs, TPU
cores, or CPU devices forced with ``XLA_FLAGS=--xla_force_host_platform_device_count=8``): every
stacked array is sharded along its leading model axis with ``NamedSharding(mesh, P("models"))`` and
the data is replicated; the same jitted program then runs on each device's share of the members
(XLA's SPMD partitioner splits the vmapped computation, which has no cross-member terms).

A population is padded to a multiple of the device count (and to its size bucket:
:mod:`jaxinit.engine.placement`) with copies of member 0; they train like member 0 and are dropped before
anything is recorded: :func:`unpad` the state and slice the metrics to ``M``.

Several hosts: call ``jax.distributed.initialize()`` in every process first; ``jax.devices()`` is
then every process's devices and the same mesh spans them. Arrays are built from each process's
identical host copy (:func:`shard`), and :func:`to_host` gathers a sharded result on every process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["AXIS", "initialize_distributed", "population_mesh", "padded_count", "pad", "unpad",
           "shard", "replicate", "to_host"]

AXIS = "models"
"""The mesh axis the population's model axis is sharded over."""


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, auto: bool = False) -> bool:
  """``jax.distributed.initialize`` for several processes: from the coordinator's ``HOST:PORT``,
  the process count and this process's index, or with no arguments where the cluster provides
  them (``auto``: SLURM, Cloud TPU). CPU processes talk through gloo.

  Returns:
    Whether it was initialized (False: one process, nothing given).

  Raises:
    ValueError: some of the three given without the others, or a coordinator that is not
      ``HOST:PORT``.
  """
  given = [coordinator, num_processes, process_id]
  if not auto and all(v is None for v in given):
    return False
  if any(v is None for v in given) and any(v is not None for v in given):
    raise ValueError("--coordinator, --num-processes and --process-id go together; give all three, "
                     "or --distributed alone where the cluster provides them (SLURM, Cloud TPU)")
  if coordinator is not None:
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
      raise ValueError(f"--coordinator {coordinator!r} is not HOST:PORT; accepted: e.g. "
                       "10.0.0.1:1234 or node01:29500 (a port in 1..65535)")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                             process_id=process_id)
  return True


def population_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh | None:
  """A 1-D mesh named :data:`AXIS` over ``devices`` (default: all devices of all processes), or
  None when there is only one device (then nothing is sharded)."""
  devices = list(jax.devices() if devices is None else devices)
  if not devices:
    raise ValueError("population_mesh: no devices; accepted: one or more jax devices")
  if len(devices) == 1:
    return None
  return Mesh(np.asarray(devices), (AXIS,))


def padded_count(members: int, devices: int) -> int:
  """The smallest multiple of ``devices`` that is >= ``members``."""
  if members < 1 or devices < 1:
    raise ValueError(f"padded_count: members={members}, devices={devices}; accepted: both >= 1")
  return math.ceil(members / devices) * devices


def pad(tree: Any, count: int) -> Any:
  """Stacked leaves ``(M, ...)`` -> host arrays ``(count, ...)``, appending copies of member 0.

  Done in NumPy on the host, so no program is compiled for the padded shapes.
  """
  def leaf(x: Any) -> np.ndarray:
    x = to_host(x)
    extra = count - x.shape[0]
    if extra < 0:
      raise ValueError(f"pad: {x.shape[0]} members do not fit in {count}")
    return x if extra == 0 else np.concatenate([x, np.repeat(x[:1], extra, axis=0)])
  return jax.tree.map(leaf, tree)


def unpad(tree: Any, members: int) -> Any:
  """The first ``members`` entries of every stacked leaf, as host arrays (no compiled slice)."""
  return jax.tree.map(lambda x: to_host(x)[:members], tree)


def _put(x: Any, sharding: NamedSharding) -> jax.Array:
  if isinstance(x, jax.Array) and x.sharding == sharding:
    return x  # already there (a restored checkpoint): no gather, no copy
  host = to_host(x)
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def shard(tree: Any, mesh: Mesh) -> Any:
  """Every leaf sharded along its leading (model) axis over ``mesh``; the leading size must be a
  multiple of the mesh size (:func:`pad`)."""
  sharding = NamedSharding(mesh, P(AXIS))
  return jax.tree.map(lambda x: _put(x, sharding), tree)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Every leaf replicated on every device of ``mesh``."""
  sharding = NamedSharding(mesh, P())
  return jax.tree.map(lambda x: _put(x, sharding), tree)


def to_host(x: Any) -> np.ndarray:
  """A NumPy copy of ``x``, gathered from every process when ``x`` is sharded across processes."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(x)


