"""Training a population in one compiled program: an optax optimizer, vmapped over members.

Where the members train (the size bucket, chunks, mesh) is decided apart, by
:mod:`jaxinit.engine.placement`; this module holds the compiled programs and the epoch loop.

One epoch is a ``lax.scan`` over minibatches inside ``jit(vmap(...))``; one call of the compiled
program trains a block of epochs (a ``lax.fori_loop``, ``TrainConfig.eval_every`` of them), then
evaluates every member on the whole train and test sets. What differs between members
(parameters, learning rate, momentum, seed) is data, so a second sweep with other seeds, schemes,
scales or learning rates reuses the compiled program; only the architecture, the
:class:`TrainConfig` (less ``epochs`` and ``eval_every``), the population size ``M`` and the data
shapes are part of it.

* **Learning rate and momentum** live in each member's optimizer state
  (``optax.inject_hyperparams``; :mod:`jaxinit.engine.optimizers`: SGD + momentum by default, or plain
  SGD, Nesterov, Adam, AdamW, RMSProp), so they are per-member values, not constants.
* **Minibatch order** is shared by all members by default (from ``TrainConfig.order_seed``), or per
  member (from its seed) with ``shuffle="member"``. Epoch ``e``'s order depends only on that seed and
  ``e``, so a resumed run sees the same batches. The last ``N mod batch_size`` examples of each
  shuffled epoch are dropped.
* **Divergence is a result**: after every step, a member whose loss or parameters are not finite is
  frozen at its last finite state and marked diverged with its epoch; its metrics are NaN from then on.
  The others are unaffected (every operation is per member).
* **Reproducibility**: a run is bit-for-bit repeatable on one machine; a member trained alone
  (:func:`train_one`) and the same member in a population agree to float32 rounding, since batched and
  unbatched matmuls may round differently.

Loss: one logit means binary classification with a sigmoid output (``sigmoid_binary_cross_entropy``,
accuracy at logit > 0); more logits, softmax cross-entropy with integer labels; or, with
``TrainConfig.loss = "mse"``, the squared error against one-hot targets.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinit.engine import optimizers, placement, sharding
from jaxinit.engine import population as pop
from jaxinit.nets import models, parametrizations, protocol
from jaxinit.results.records import METRICS

__all__ = ["TrainConfig", "TrainState", "DeviceData", "Programs", "METRICS", "device_data",
           "programs", "init_state", "run", "train_one", "check_data", "evaluation_epochs",
           "SHUFFLES", "transform", "variables", "num_outputs", "Model"]

SHUFFLES = ("shared", "member")
MAX_COUNT = 2 ** 31
"""Epochs, batch sizes and evaluation intervals are below this: the compiled loops count in int32."""
PRECISIONS = {"highest": "highest", "tf32": "tensorfloat32", "bf16": "bfloat16"}
"""TrainConfig.precision -> the ``jax.default_matmul_precision`` the epoch is traced under."""
_SHUFFLE_STREAM = 1  # fold_in(key(seed), 1): the shuffling stream; key(seed) itself initializes


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How a population is trained (everything that is the same for all members).

  Attributes:
    epochs: number of passes over the training set, >= 1.
    batch_size: examples per SGD step, >= 1 and at most the training set size; None for full-batch
      gradient descent (one step per epoch on the whole training set, in a fixed order).
    shuffle: ``"shared"`` (one order for all members, from ``order_seed``) or ``"member"`` (each
      member's own order, from its seed).
    order_seed: seed of the shared minibatch order.
    eval_batch_size: examples per forward pass when evaluating (bounds memory, not results).
    optimizer: the optimizer's name (:mod:`jaxinit.engine.optimizers`: ``"momentum"``, the default, SGD +
      heavy ball; ``"sgd"``, ``"nesterov"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, with their
      constants, e.g. ``"adam(b2=0.99)"``); stored in its canonical form. Each member's learning
      rate (and momentum) is its own.
    schedule: the learning-rate schedule's name (``"constant"``, ``"cosine(alpha=0.0)"``,
      ``"warmup_cosine(warmup=0.05, alpha=0.0)"``; :func:`jaxinit.engine.optimizers.schedule`) over the
      ``epochs x steps per epoch`` steps of the run; a resumed run continues it. Programs with a
      schedule other than constant depend on ``epochs``.
    loss: ``"cross_entropy"`` (sigmoid or softmax) or ``"mse"`` (half the squared error against
      one-hot targets, :func:`jaxinit.nets.models.per_example_loss`); the recorded losses are this one.
    eval_every: evaluate (and yield, record) after every ``eval_every``-th epoch and after the last,
      >= 1; the epochs between are trained in one compiled call with no evaluation and no return
      to Python. The trained parameters do not depend on it.
    precision: ``"highest"``: float32 matmuls and convolutions at full precision; ``"tf32"``:
      TensorFloat-32 matmuls (GPUs; the CPU computes float32); ``"bf16"``: mixed precision,
      bfloat16 computation (the model's ``dtype``) with float32 parameters, optimizer state and
      loss. See :data:`PRECISIONS`.
  """

  epochs: int = 100
  batch_size: int | None = 32
  shuffle: str = "shared"
  order_seed: int = 0
  eval_batch_size: int = 2048
  optimizer: str = optimizers.DEFAULT
  schedule: str = "constant"
  loss: str = "cross_entropy"
  precision: str = "highest"
  eval_every: int = 1

  def __post_init__(self) -> None:
    object.__setattr__(self, "optimizer", optimizers.get(self.optimizer).name)
    object.__setattr__(self, "schedule", optimizers.schedule(self.schedule).name)
    for field in ("epochs", "batch_size", "eval_batch_size", "eval_every"):
      v = getattr(self, field)
      if v is None and field == "batch_size":
        continue
      if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v < MAX_COUNT:
        raise ValueError(f"TrainConfig.{field} must be an int in [1, 2^31) (the compiled epoch "
                         f"counts in int32); got {v!r}")
    if self.shuffle not in SHUFFLES:
      raise ValueError(f"unknown shuffle {self.shuffle!r}; accepted: {', '.join(SHUFFLES)}")
    if self.loss not in models.LOSSES:
      raise ValueError(f"unknown loss {self.loss!r}; accepted: {', '.join(models.LOSSES)}")
    if self.precision not in PRECISIONS:
      raise ValueError(f"unknown precision {self.precision!r}; accepted: {', '.join(PRECISIONS)}")
    if not 0 <= self.order_seed < pop.MAX_SEED:
      raise ValueError(f"TrainConfig.order_seed must be in [0, 2^32); got {self.order_seed}")


class TrainState(NamedTuple):
  """One member's training state (stacked: every leaf has the model axis first).

  Attributes:
    params: the Flax params pytree.
    model_state: the model's other collections (:mod:`jaxinit.nets.protocol`): linen's
      ``{"batch_stats": ...}``, an nnx module's ``{"state": ...}``; ``{}`` without any.
    opt_state: the optax state, holding this member's learning rate and momentum.
    alive: bool, False once the member has diverged.
    diverged_epoch: int32, the epoch in which it diverged, 0 if it has not.
  """

  params: Any
  model_state: Any
  opt_state: Any
  alive: jax.Array
  diverged_epoch: jax.Array


class DeviceData(NamedTuple):
  """The four arrays of a dataset on the device: x ``(N, ...)`` float32, y ``(N,)`` int32."""

  x_train: jax.Array
  y_train: jax.Array
  x_test: jax.Array
  y_test: jax.Array


def device_data(dataset: Any) -> DeviceData:
  """Puts a :class:`jaxinit.data.Dataset` (anything with the four array attributes) on the device."""
  return DeviceData(*(jnp.asarray(getattr(dataset, f)) for f in DeviceData._fields))


def _all_finite(tree: Any) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _permutation(seed: jax.Array, epoch: jax.Array, n: int, batch: int | None) -> jax.Array:
  """Epoch ``epoch``'s minibatch indices, shape ``(n // batch, batch)``; ``(1, n)`` in order if None."""
  if batch is None:
    return jnp.arange(n)[None]
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), _SHUFFLE_STREAM), epoch)
  steps = n // batch
  return jax.random.permutation(key, n)[:steps * batch].reshape(steps, batch)


def evaluation_epochs(cfg: TrainConfig, start_epoch: int = 0) -> Iterator[int]:
  """The epochs after which a run continued from ``start_epoch`` evaluates, in order and lazily
  (a run of 10^9 epochs holds no list of them): every multiple of ``cfg.eval_every`` and the last
  epoch. A resumed run's blocks are the uninterrupted run's, since it continues from one of these.

  >>> list(evaluation_epochs(TrainConfig(epochs=10, eval_every=4))), list(evaluation_epochs(
  ...     TrainConfig(epochs=8, eval_every=4), start_epoch=4))
  ([4, 8, 10], [8])
  """
  step = cfg.eval_every
  yield from range((start_epoch // step + 1) * step, cfg.epochs, step)
  if start_epoch < cfg.epochs:
    yield cfg.epochs


Model = models.ModelConfig | protocol.Model
"""What the engine trains: a built-in model's config, or any model in the pure form."""


def transform(model_cfg: Model, cfg: TrainConfig, lr: Any, momentum: Any
              ) -> optax.GradientTransformation:
  """The optimizer of ``cfg`` with learning rate ``lr`` and ``momentum`` (injected
  hyperparameters), followed, when the model's parametrization scales learning rates per layer
  or per parameter, by those factors (:func:`jaxinit.nets.parametrizations.scale_by_layer`,
  :func:`jaxinit.nets.parametrizations.scale_by_leaf`)."""
  optimizer = optimizers.get(cfg.optimizer)
  tx = optimizer.transform(lr, momentum)
  if isinstance(model_cfg, protocol.Model):
    lr_factors = {p: f.lr for p, f in model_cfg.leaf_scales(optimizer.adaptive).items()
                  if f.lr != 1.0}
    if not lr_factors:
      return tx
    return optax.chain(tx, parametrizations.scale_by_leaf(lr_factors, protocol.path_str))
  scales = model_cfg.layer_scales(optimizer.adaptive)
  if not parametrizations.scales_learning_rates(scales):
    return tx
  return optax.chain(tx, parametrizations.scale_by_layer(scales))


def variables(state: TrainState) -> dict:
  """A state's model variables, ``{"params": ..., **model_state}``."""
  return {"params": state.params, **state.model_state}


def _net(model_cfg: Model, cfg: TrainConfig) -> protocol.Model:
  """The model in the pure form; a built-in one in bfloat16 computation under ``precision="bf16"``
  (a user's model sets its own computation dtype)."""
  return protocol.of(model_cfg, dtype=jnp.bfloat16 if cfg.precision == "bf16" else None)


def _member_fns(model_cfg: Model, cfg: TrainConfig) -> tuple[Any, Any]:
  """For one member (unbatched): ``train_epoch(state, perm_SB, data, epoch, seed) -> state`` and
  ``metrics(state, data) -> (4,)`` (:data:`METRICS`, NaN once diverged)."""
  net = _net(model_cfg, cfg)
  tx = transform(model_cfg, cfg, 0.0, 0.0)  # update reads lr, momentum from the state

  def loss_fn(params: Any, model_state: Any, x: jax.Array, y: jax.Array, key: jax.Array
              ) -> tuple[jax.Array, Any]:
    logits, updated = net.apply({"params": params, **model_state}, x, True, key)
    return jnp.mean(models.per_example_loss(logits, y, cfg.loss)[0]), {**model_state, **updated}

  def step(data: DeviceData, factor: Any, seed: jax.Array, state: TrainState,
           idx_t: tuple[jax.Array, jax.Array]) -> tuple[TrainState, None]:
    idx, t = idx_t
    x, y = data.x_train[idx], data.y_train[idx]
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), protocol.DROPOUT_STREAM), t)
    (loss, bs), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state.model_state, x, y, key)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    if cfg.schedule != "constant":  # the same as a learning rate of lr * factor(t)
      updates = jax.tree.map(lambda u: (u * factor(t)).astype(u.dtype), updates)
    params = optax.apply_updates(state.params, updates)
    ok = state.alive & jnp.isfinite(loss) & _all_finite(params)
    new = (params, bs, opt_state)
    kept = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, tuple(state[:3]))
    return TrainState(*kept, ok, state.diverged_epoch), None

  def evaluate(state: TrainState, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Full chunks sliced in place by a scan, then the remainder: no padded copy of the data set
    # (padding and masking it cost ~2x the forward passes of MNIST's test set on a CPU).
    n = x.shape[0]
    chunk = min(cfg.eval_batch_size, n)
    count, rest = divmod(n, chunk)

    def sums(xc: jax.Array, yc: jax.Array) -> tuple[jax.Array, jax.Array]:
      loss, correct = models.per_example_loss(net.apply(variables(state), xc)[0], yc, cfg.loss)
      return jnp.sum(loss), jnp.sum(correct)

    def body(carry: tuple, i: jax.Array) -> tuple[tuple, None]:
      part = sums(jax.lax.dynamic_slice_in_dim(x, i * chunk, chunk),
                  jax.lax.dynamic_slice_in_dim(y, i * chunk, chunk))
      return (carry[0] + part[0], carry[1] + part[1]), None

    (total, correct), _ = jax.lax.scan(body, (jnp.float32(0.0), jnp.int32(0)), jnp.arange(count))
    if rest:
      part = sums(x[count * chunk:], y[count * chunk:])
      total, correct = total + part[0], correct + part[1]
    return total / n, correct / n

  def train_epoch(state: TrainState, perm_SB: jax.Array, data: DeviceData, epoch: jax.Array,
                  seed: jax.Array) -> TrainState:
    was_alive = state.alive
    steps = perm_SB.shape[0]  # the schedule's step t counts from the run's first step
    factor = optimizers.schedule(cfg.schedule).multiplier(cfg.epochs * steps)
    t = (epoch - 1) * steps + jnp.arange(steps)
    state, _ = jax.lax.scan(functools.partial(step, data, factor, seed), state, (perm_SB, t))
    return state._replace(diverged_epoch=jnp.where(was_alive & ~state.alive, epoch,
                                                   state.diverged_epoch))

  def metrics(state: TrainState, data: DeviceData) -> jax.Array:
    values = jnp.stack([*evaluate(state, data.x_train, data.y_train),
                        *evaluate(state, data.x_test, data.y_test)])
    return jnp.where(state.alive, values, jnp.nan)

  return train_epoch, metrics


class Programs(NamedTuple):
  """The jitted programs of one (architecture, :class:`TrainConfig`).

  Attributes:
    population_block: ``(states (M, ...), seeds (M,) uint32, data, first int32, last int32) ->
      (states, metrics (M, 4))``: trains epochs ``first..last``, then evaluates; the states are
      donated.
    single_block: the same for one unbatched member: ``(state, seed, data, first, last)``.
    init_state: ``(variables (M, ...), lr (M,), momentum (M,)) -> TrainState (M, ...)``.
  """

  population_block: Any
  single_block: Any
  init_state: Any


def programs(model_cfg: Model, cfg: TrainConfig) -> Programs:
  """The :class:`Programs` for one architecture, cached; each compiles once per input shape (the
  population's size bucket, the data's shapes). The number of epochs (unless a schedule spans the
  run) and ``eval_every`` are not part of them, so runs of different lengths share them."""
  general = {"eval_every": min(cfg.eval_every, 2)}  # 1: one epoch per call; 2: a block, any size
  if cfg.schedule == "constant":
    general["epochs"] = 1
  return _compiled(model_cfg, dataclasses.replace(cfg, **general))


@functools.lru_cache(maxsize=32)
def _compiled(model_cfg: Model, cfg: TrainConfig) -> Programs:
  train_epoch, metrics = _member_fns(model_cfg, cfg)
  precision = PRECISIONS[cfg.precision]

  def population_block(states: TrainState, seeds: jax.Array, data: DeviceData, first: jax.Array,
                       last: jax.Array) -> tuple[TrainState, jax.Array]:
    n = data.x_train.shape[0]

    def epoch(e: jax.Array, states: TrainState) -> TrainState:
      if cfg.shuffle == "shared":
        perm = _permutation(jnp.uint32(cfg.order_seed), e, n, cfg.batch_size)
        return jax.vmap(train_epoch, in_axes=(0, None, None, None, 0))(states, perm, data, e, seeds)
      perms = jax.vmap(lambda s: _permutation(s, e, n, cfg.batch_size))(seeds)
      return jax.vmap(train_epoch, in_axes=(0, 0, None, None, 0))(states, perms, data, e, seeds)

    with jax.default_matmul_precision(precision):
      states = _epochs(epoch, first, last, states)
      return states, jax.vmap(metrics, in_axes=(0, None))(states, data)

  def single_block(state: TrainState, seed: jax.Array, data: DeviceData, first: jax.Array,
                   last: jax.Array) -> tuple[TrainState, jax.Array]:
    s = jnp.uint32(cfg.order_seed) if cfg.shuffle == "shared" else seed
    n = data.x_train.shape[0]

    def epoch(e: jax.Array, state: TrainState) -> TrainState:
      return train_epoch(state, _permutation(s, e, n, cfg.batch_size), data, e, seed)

    with jax.default_matmul_precision(precision):
      state = _epochs(epoch, first, last, state)
      return state, metrics(state, data)

  def _epochs(epoch: Any, first: jax.Array, last: jax.Array, state: Any) -> Any:
    if cfg.eval_every == 1:  # one epoch per call (first == last): no loop, a faster compile
      return epoch(first, state)
    return jax.lax.fori_loop(first, last + 1, epoch, state)

  def init(variables: dict, lr: jax.Array, momentum: jax.Array) -> TrainState:
    params = variables["params"]
    opt_state = transform(model_cfg, cfg, lr, momentum).init(params)
    return TrainState(params, {c: v for c, v in variables.items() if c != "params"}, opt_state,
                      jnp.bool_(True), jnp.int32(0))

  return Programs(jax.jit(population_block, donate_argnums=0),
                  jax.jit(single_block, donate_argnums=0), jax.jit(jax.vmap(init)))


def num_outputs(model_cfg: Model, x: Any) -> int:
  """The model's number of outputs (logits) per example, for inputs like ``x`` ``(N, ...)``.

  Raises:
    ValueError: a user's model whose outputs are not ``(B, k)`` logits.
  """
  if isinstance(model_cfg, models.ModelConfig):
    return model_cfg.num_outputs
  shape = protocol.of(model_cfg).output_shape(jax.ShapeDtypeStruct((2, *x.shape[1:]), jnp.float32))
  if len(shape) != 2:
    raise ValueError(f"model {model_cfg.name!r} returns outputs of shape {shape} for a batch of 2; "
                     "accepted: logits of shape (batch, classes), or (batch, 1) for binary labels")
  return shape[1]


def check_data(data: DeviceData, cfg: TrainConfig, model_cfg: Model) -> None:
  """Raises ValueError if the data does not fit the batch size or the model's outputs."""
  n = data.x_train.shape[0]
  if cfg.batch_size is not None and cfg.batch_size > n:
    raise ValueError(f"batch_size {cfg.batch_size} is larger than the training set ({n} examples); "
                     f"accepted: 1..{n}")
  top = int(np.max(np.asarray(data.y_train)))
  outputs = num_outputs(model_cfg, data.x_train)
  classes = 2 if outputs == 1 else outputs
  if top >= classes:
    raise ValueError(f"labels go up to {top} but the model has {outputs} output(s) "
                     f"({classes} classes); set the last width to the number of classes (1 for binary)")


def init_state(model_cfg: Model, cfg: TrainConfig, members: Sequence[pop.Member],
               x_train: Any, count: int | None = None) -> TrainState:
  """The stacked initial :class:`TrainState` of a population (leaves ``(count, ...)``, on the
  device).

  Args:
    model_cfg, cfg: the architecture and training.
    members: the population, ``M`` members.
    x_train: ``(N, *input_shape)``: gives the input shape and, for data-dependent schemes, the
      batch they see (:func:`jaxinit.engine.population.init_batch`).
    count: pad to this many members with copies of member 0 (the :class:`jaxinit.engine.placement.Plan`'s
      ``count``; default ``M``). The padding happens on the host after the members are drawn, so
      the compiled programs depend on ``count`` only, not on ``M``.
  """
  count = len(members) if count is None else count
  variables = pop.init_params(model_cfg, members, x_train.shape[1:], pop.init_batch(x_train),
                              host=True)
  hp = pop.hyperparameters(members)
  variables, lr, momentum = sharding.pad((variables, hp["lr"], hp["momentum"]), count)
  return programs(model_cfg, cfg).init_state(variables, lr, momentum)


def run(model_cfg: Model, cfg: TrainConfig, members: Sequence[pop.Member],
        data: DeviceData, state: TrainState | None = None, start_epoch: int = 0,
        plan: placement.Plan | None = None) -> Iterator[tuple[int, TrainState, np.ndarray]]:
  """Trains a population, yielding after each evaluation (:func:`evaluation_epochs`: every
  ``cfg.eval_every`` epochs and the last).

  Args:
    model_cfg: the architecture.
    cfg: the training configuration.
    members: the population (``M`` members).
    data: the dataset on the device (:func:`device_data`).
    state: the state to continue from (a resumed run): ``M`` members, or already padded to
      ``plan.count``; None: a fresh :func:`init_state`.
    start_epoch: the number of epochs ``state`` has already done.
    plan: the size bucket, chunks and mesh (:func:`jaxinit.engine.placement.plan_population`); None:
      :func:`jaxinit.engine.placement.plan` over every device (sharded when there is more than one), all
      members at once.

  Yields:
    ``(epoch, state, metrics_M4)`` for each evaluation epoch after ``start_epoch``: the 1-based epoch,
    the stacked state after it, padded to ``plan.count`` members (the first ``M`` being the
    population: :func:`jaxinit.engine.sharding.unpad`; in host memory when chunked), and a host array
    ``(M, 4)`` of :data:`METRICS` (NaN for diverged members). The yielded state's device buffers
    are donated to the next epoch: copy what you keep before asking for the next one.

  Raises:
    ValueError: data that does not fit.
  """
  check_data(data, cfg, model_cfg)
  m = len(members)
  if plan is None:
    plan = placement.plan(m, sharding.population_mesh())
  if state is None:
    state = init_state(model_cfg, cfg, members, data.x_train, plan.count)
  elif jax.tree.leaves(state)[0].shape[0] != plan.count:
    state = sharding.pad(state, plan.count)
  seeds = np.asarray([mb.seed for mb in placement.padded_members(members, plan.count)], np.uint32)
  mesh = plan.mesh
  place = jax.device_put if mesh is None else (lambda tree: sharding.shard(tree, mesh))
  if mesh is not None:
    data = sharding.replicate(data, mesh)
  block_fn = programs(model_cfg, cfg).population_block
  blocks = _blocks(cfg, start_epoch)
  if not plan.chunked:  # everything on the device at once
    state, seeds = place((state, seeds))
    for first, last in blocks:
      state, metrics = block_fn(state, seeds, data, first, last)
      yield int(last), state, sharding.to_host(metrics)[:m]
    return
  chunk = plan.chunk
  state = jax.tree.map(sharding.to_host, state)
  for first, last in blocks:
    parts, metrics = [], []
    for start in range(0, plan.count, chunk):
      part = place(jax.tree.map(lambda x, start=start: x[start:start + chunk], (state, seeds)))
      part_state, part_metrics = block_fn(*part, data, first, last)
      parts.append(jax.tree.map(sharding.to_host, part_state))
      metrics.append(sharding.to_host(part_metrics))
    state = jax.tree.map(lambda *xs: np.concatenate(xs), *parts)
    yield int(last), state, np.concatenate(metrics)[:m]


def _blocks(cfg: TrainConfig, start_epoch: int) -> Iterator[tuple[np.int32, np.int32]]:
  """``(first, last)`` epochs of each compiled call after ``start_epoch`` (none for a finished run
  resumed), lazily."""
  first = start_epoch + 1
  for last in evaluation_epochs(cfg, start_epoch):
    yield np.int32(first), np.int32(last)
    first = last + 1


def train_one(model_cfg: Model, cfg: TrainConfig, member: pop.Member, data: DeviceData
              ) -> tuple[TrainState, np.ndarray]:
  """Trains one member alone with the compiled single-model trainer (the one-by-one baseline).

  Returns:
    The final unbatched :class:`TrainState` and the metrics at each evaluation epoch
    (:func:`evaluation_epochs`), a host array ``(evaluations, 4)``: ``(epochs, 4)`` when
    ``eval_every`` is 1.
  """
  check_data(data, cfg, model_cfg)
  stacked = init_state(model_cfg, cfg, [member], data.x_train)
  state = jax.tree.map(lambda x: x[0], stacked)
  block_fn = programs(model_cfg, cfg).single_block
  seed = np.uint32(member.seed)
  rows = []
  for first, last in _blocks(cfg, 0):
    state, metrics = block_fn(state, seed, data, first, last)
    rows.append(metrics)
  return state, np.stack([np.asarray(m) for m in rows])
