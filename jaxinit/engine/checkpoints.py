"""A population's train state on disk: Orbax checkpoints, one folder per epoch, the last few kept.

:class:`Checkpoints` wraps an ``orbax.checkpoint.CheckpointManager`` over a folder (a sweep's
``<run folder>/checkpoints/``) holding ``<epoch>/`` folders in Orbax's standard PyTree format (one
array per leaf of the :class:`jaxinit.engine.train.TrainState`):

* a save writes the state as the engine holds it: padded to the plan's count (the padding members
  are copies of member 0: :mod:`jaxinit.engine.sharding`) and, on several devices, sharded over
  the model axis; each process writes its own shards (nothing is gathered on one host), so every
  process calls :meth:`Checkpoints.save` on the same folder (it is collective). The member count
  and the padded count go into the epoch's metadata;
* saves are synchronous and atomic: Orbax writes into ``<epoch>.orbax-checkpoint-tmp-*`` and renames
  it to ``<epoch>`` when complete, so a save that is killed or fails leaves the last complete
  epoch restorable (the next :class:`Checkpoints` removes the leftover), and the caller may name
  the epoch in ``run.json`` as soon as :meth:`~Checkpoints.save` returns;
* only the newest ``keep`` epochs are kept;
* :meth:`~Checkpoints.restore` reads the newest epoch straight into the shardings the plan trains
  in (:func:`target_sharding`: no gather, no host copy; host memory for a plan in chunks); one
  padded to another count (another device count) is read on the host and cut back to its members,
  which the engine pads again.

Earlier versions wrote ``checkpoint.msgpack`` instead (``flax.serialization`` of the unpadded state,
gathered on the host). A folder holding one resumes from it (:func:`read_legacy`); the first Orbax
save then removes it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding, SingleDeviceSharding
from jax.sharding import PartitionSpec as P

from jaxinit.engine import placement, sharding

__all__ = ["KEEP", "Checkpoints", "check_keep", "target_sharding", "read_legacy", "read_host"]

KEEP = 2
"""The epochs a sweep keeps by default: the newest and the one before it."""


def _manager(folder: Path, keep: int, read_only: bool = False) -> Any:
  import orbax.checkpoint as ocp

  options = ocp.CheckpointManagerOptions(
      preservation_policy=ocp.checkpoint_managers.LatestN(keep), enable_async_checkpointing=False,
      cleanup_tmp_directories=not read_only, save_root_metadata=False, create=not read_only,
      read_only=read_only)
  return ocp.CheckpointManager(folder, options=options, item_handlers=ocp.StandardCheckpointHandler())


def check_keep(keep: int) -> int:
  """``keep`` checked: how many epochs to keep.

  Raises:
    ValueError: not an int >= 1.
  """
  if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
    raise ValueError(f"keep={keep!r} checkpoints; accepted: an int >= 1 (the newest epochs kept)")
  return keep


def target_sharding(plan: placement.Plan) -> jax.sharding.Sharding | None:
  """Where :func:`jaxinit.engine.train.run` keeps a state of ``plan`` between epochs: sharded over
  its mesh's model axis when it trains all members at once on several devices, on this process's
  first device on one, and in host memory (None) when it trains in chunks (the whole population
  does not fit on the devices)."""
  if plan.chunked:
    return None
  if plan.mesh is not None:
    return NamedSharding(plan.mesh, P(sharding.AXIS))
  return SingleDeviceSharding(jax.local_devices()[0])


def _abstract(shape: tuple[int, ...], dtype: Any, where: jax.sharding.Sharding | None) -> Any:
  """What Orbax restores a leaf as: an array in ``where``, or a NumPy array (``where`` None; given
  as a broadcast view, which allocates nothing)."""
  if where is None:
    return np.broadcast_to(np.zeros((), dtype), shape)
  return jax.ShapeDtypeStruct(shape, dtype, sharding=where)


class Checkpoints:
  """The checkpoints in ``folder``: save an epoch's state, restore the newest (a context manager;
  :meth:`close` waits for Orbax's background work).

  Args:
    folder: the checkpoint folder, made at the first save or restore (so a run that dies before
      either leaves no folder behind).
    keep: how many of the newest epochs to keep (>= 1).
    legacy: a ``checkpoint.msgpack`` of earlier versions, read when the folder holds no epoch and
      removed after the first save here.

  Raises:
    ValueError: ``keep`` below 1.
  """

  def __init__(self, folder: str | Path, keep: int = KEEP, legacy: str | Path | None = None):
    self.folder, self.keep = Path(folder).absolute(), check_keep(keep)  # Orbax needs absolute
    self.legacy = None if legacy is None else Path(legacy)
    self._opened: Any = None

  def __enter__(self) -> Checkpoints:
    return self

  def __exit__(self, *exc: object) -> None:
    self.close()

  def close(self) -> None:
    if self._opened is not None:
      self._opened.close()
      self._opened = None

  @property
  def _manager(self) -> Any:
    if self._opened is None:
      self._opened = _manager(self.folder, self.keep)
    return self._opened

  def latest(self) -> int | None:
    """The newest complete epoch saved here, None when there is none."""
    if self._opened is None and not self.folder.is_dir():
      return None
    return self._manager.latest_step()

  def save(self, epoch: int, state: Any, members: int) -> None:
    """Writes ``state`` (stacked, padded or not, on devices or host) as epoch ``epoch`` of a
    population of ``members``; returns once it is complete on disk. Every process calls it."""
    import orbax.checkpoint as ocp

    count = jax.tree.leaves(state)[0].shape[0]
    self._manager.save(epoch, args=ocp.args.StandardSave(state),
                       custom_metadata={"members": members, "count": count})
    if self.legacy is not None and jax.process_index() == 0:
      with contextlib.suppress(FileNotFoundError):
        self.legacy.unlink()  # superseded: one checkpoint format per folder

  def restore(self, template: Any, members: int, target: jax.sharding.Sharding | None
              ) -> tuple[int, Any] | None:
    """The newest epoch and its state, None when nothing was saved (here or in ``legacy``).

    Args:
      template: a state of the same structure (e.g. the fresh one): its leaves' shapes and dtypes.
      members: the population size ``M``.
      target: where the leaves go (:func:`target_sharding`); None: host (NumPy) arrays.

    Returns:
      ``(epoch, state)``: ``state`` has the template's structure; its leaves are arrays of the
      template's shapes in ``target``, or, for a checkpoint padded to another count (or a legacy
      one), host arrays of the ``M`` members (:func:`jaxinit.engine.train.run` pads them).

    Raises:
      ValueError: a checkpoint of another population or one that cannot be read, with what to do.
    """
    import orbax.checkpoint as ocp

    epoch = self.latest()
    if epoch is None:
      return None if self.legacy is None or not self.legacy.exists() else read_legacy(
          self.legacy, sharding.unpad(template, members))
    count = self._count(epoch, members)
    same = all(x.shape[0] == count for x in jax.tree.leaves(template))
    abstract = jax.tree.map(lambda t: _abstract((count, *t.shape[1:]), t.dtype,
                                                target if same else None), template)
    try:
      state = self._manager.restore(epoch, args=ocp.args.StandardRestore(abstract))
    except Exception as e:
      raise ValueError(f"checkpoint {self.folder / str(epoch)} cannot be read into this run's state "
                       f"({type(e).__name__}: {str(e).strip().splitlines()[0][:200]}); rerun with "
                       "--overwrite") from e
    return epoch, state if same else sharding.unpad(state, members)

  def _count(self, epoch: int, members: int) -> int:
    """The padded member count saved at ``epoch``, checked to hold ``members`` members."""
    saved = self._manager.metadata(epoch).custom_metadata or {}
    if saved.get("members") != members:
      raise ValueError(f"checkpoint {self.folder / str(epoch)} holds {saved.get('members')} members, "
                       f"this run {members}; resume with the config it was run with, or --overwrite")
    return saved["count"]


def read_legacy(path: str | Path, template: Any) -> tuple[int, Any]:
  """The ``(epoch, state)`` of a ``checkpoint.msgpack`` written by earlier versions (the unpadded
  host state, ``flax.serialization``), read into ``template``'s structure (host arrays of ``M``
  members); one whose state held ``batch_stats`` (before the state held every model collection)
  is read into ``model_state``.

  Raises:
    ValueError: a file that cannot be read into the template, with what to do.
  """
  import flax.serialization

  path = Path(path)
  target = {"epoch": 0, "state": jax.device_get(template)}
  try:
    payload = flax.serialization.msgpack_restore(path.read_bytes())
    state = payload.get("state", {})
    if "batch_stats" in state:
      stats = state.pop("batch_stats")
      state["model_state"] = {"batch_stats": stats} if stats else {}
    restored = flax.serialization.from_state_dict(target, payload)
  except Exception as e:
    raise ValueError(f"checkpoint {path} cannot be read ({e}); rerun with --overwrite") from e
  return int(restored["epoch"]), restored["state"]


def read_host(folder: str | Path, legacy: str | Path | None = None) -> tuple[int, dict[str, Any]]:
  """The newest epoch in ``folder`` (else the ``legacy`` file) and its state as nested dicts of
  host arrays, unpadded to the members saved (``{"params": ..., "opt_state": ...}``): for readers
  without a template, e.g. :func:`jaxinit.studies.sweep.final_params`.

  Raises:
    ValueError: neither holds a checkpoint.
  """
  import orbax.checkpoint as ocp

  folder = Path(folder).absolute()
  if folder.is_dir():
    manager = _manager(folder, KEEP, read_only=True)
    try:
      epoch = manager.latest_step()
      if epoch is not None:
        members = (manager.metadata(epoch).custom_metadata or {})["members"]
        abstract = jax.tree.map(lambda s: _abstract(tuple(s.shape), s.dtype, None),
                                manager.item_metadata(epoch))
        state = manager.restore(epoch, args=ocp.args.StandardRestore(abstract))
        return epoch, sharding.unpad(dict(state), members)
    finally:
      manager.close()
  if legacy is not None and Path(legacy).exists():
    import flax.serialization

    payload = flax.serialization.msgpack_restore(Path(legacy).read_bytes())
    return int(payload["epoch"]), payload["state"]
  raise ValueError(f"no checkpoint in {folder}; accepted: a folder a sweep saved its state in")
