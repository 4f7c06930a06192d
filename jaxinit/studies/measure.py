"""Per-layer statistics of a population at one batch: weights, signals, gradients, Jacobian spectra.

:func:`diagnose` measures, for every member and every layer ``l`` (1-based; ``layer_<i>`` of
:mod:`jaxinit.nets.models` is layer ``i + 1``), five quantities (:data:`QUANTITIES`):

* ``weight``: the kernel ``W(l)`` (biases are not included);
* ``preact``: the preactivation ``z(l)`` as sown by the model (after BatchNorm when it is on; the
  logits for the output layer);
* ``act``: ``phi(z(l))``, hidden layers only;
* ``grad_preact``: the per-example backpropagated signal ``delta_b(l) = d loss_b / d z_b(l)``, the
  gradient of example ``b``'s own loss (:func:`jaxinit.nets.models.per_example_loss`), i.e. ``B`` times
  the gradient of the batch-mean loss, so its scale does not depend on the batch size;
* ``grad_weight``: ``dL/dW(l)`` of the batch-mean loss ``L`` (what SGD steps along).

Each gets its mean, std, ``pooled_kurtosis`` (the excess kurtosis of one network's entries of that
layer, pooled over units and examples: a shape statistic of the histogram, not the ensemble
quantity of finite-width theory, which is :func:`ensemble_moments`), min, max, the number of
``distinct`` values (exact float equality: the symmetry a constant initialization keeps shows as
one value per layer) and a histogram. The histogram's bin edges are shared by every member, and by
default each layer has its own range (``linspace(-r_l, r_l, bins + 1)``, ``r_l`` the largest finite
``|value|`` of that quantity in layer ``l`` over the population); ``ranges="shared"`` gives every
layer one range, so panels of different layers compare directly.
Per layer there are also the empirical kernel ``G(l) = mean z(l)^2`` (over units and batch; per
example in :attr:`Diagnostics.kernel_MLB`), the gradient norms, and the fractions of dead ReLU units
and of saturated tanh/sigmoid entries.

The gradients with respect to ``z(l)`` come from the model that is trained, unchanged: a zero array
``eps(l)`` is added to the value that the model sows as ``preact_<i>`` (the output of ``layer_<i>``,
or of ``batch_norm_<i>`` when BatchNorm is on; in a residual MLP, the residual stream after a block),
where its ``sow_preact`` method returns it, by a ``flax.linen.intercept_methods`` interceptor, and
``jax.grad`` with respect to ``eps`` gives ``dL/dz``. This is Flax's ``Module.perturb`` mechanism
without needing the model to call ``perturb``, and it works for MLPs, CNNs and residual MLPs alike
(:class:`jaxinit.nets.models.ResMLP` says what its layers' ``preact`` and ``act`` are).

BatchNorm runs in train mode by default (``batch_norm="train"``: each layer normalized with the
batch's own statistics, as in the first training step, so a network at initialization shows
normalized layers); ``batch_norm="eval"`` uses the running statistics (at initialization mean 0
and variance 1, so BatchNorm is then nearly the identity).

Everything is computed by one ``jit(vmap(...))`` call per architecture (compiled once per
``(ModelConfig, bins)``; members, data and edges are arguments), and the tidy records are assembled on
the host once. A member's statistics alone and in a population agree to float32 rounding (batched
and unbatched matmuls round differently; within 1e-6 in the tests); its histograms are the same
given the same ``edges`` (the default edges span the whole population, so they depend on it).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import activations
from jaxinit.engine import population as pop
from jaxinit.nets import models, protocol

__all__ = ["Diagnostics", "QUANTITIES", "STATS", "RECORD_FIELDS", "RANGES", "BATCH_NORM_MODES",
           "diagnose", "to_rows", "histograms", "jacobian_singular_values", "ensemble_moments",
           "EnsembleMoments"]

QUANTITIES = ("weight", "preact", "act", "grad_preact", "grad_weight")
STATS = ("mean", "std", "pooled_kurtosis", "min", "max")
RECORD_FIELDS = ("member", "scheme", "seed", "lr", "momentum", "scale", "layer", "quantity", *STATS,
                 "distinct", "kernel", "grad_norm", "dead_frac", "saturated_frac", "hist")
RANGES = ("layer", "shared")
"""Histogram ranges: each layer its own (the default), or one per quantity over all layers."""
BATCH_NORM_MODES = ("train", "eval")
"""The keys of every record, in order; :func:`to_rows` drops ``hist``."""

_RELU_FAMILY = ("relu", "leaky_relu")
_CHUNK = 1024  # entries per row when the layers of a quantity are packed together (see _pack)


@dataclasses.dataclass(frozen=True, eq=False)
class Diagnostics:
  """What :func:`diagnose` measured.

  Attributes:
    records: one dict per member x layer x quantity (keys :data:`RECORD_FIELDS`), member-major, then
      layer, then quantity in :data:`QUANTITIES` order (``act`` only for hidden layers).
    edges: quantity -> float32 bin edges ``(layers, bins + 1)``, one row per layer that has the
      quantity (``act``: the hidden ones), shared by all members.
    kernel_MLB: the per-example empirical kernel ``mean_i z_i(l)^2``, shape ``(M, L, B)``.
  """

  records: list[dict[str, Any]]
  edges: dict[str, np.ndarray]
  kernel_MLB: np.ndarray


class _Layout(NamedTuple):
  """Where each layer's entries sit in a packed ``(K, _CHUNK)`` array (static, from the shapes).

  Attributes:
    seg: ``(K,)`` the layer of each row.
    valid: ``(K,)`` how many entries of each row are real (the rest is padding).
    counts: ``(L,)`` the entries of each layer.
  """

  seg: np.ndarray
  valid: np.ndarray
  counts: np.ndarray


def _pack(vs_M: Sequence[jax.Array]) -> tuple[jax.Array, _Layout]:
  """Per-layer arrays ``(M, ...)`` -> one ``(M, K, _CHUNK)`` array, each layer padded to whole rows.

  Statistics of all layers are then a fixed number of operations, whatever the depth: the program
  compiles several times faster than with one reduction per layer, and the padding is < _CHUNK
  entries per layer.
  """
  m = vs_M[0].shape[0]
  parts, seg, valid = [], [], []
  for layer, v in enumerate(vs_M):
    n = math.prod(v.shape[1:])
    rows = -(-n // _CHUNK)
    parts.append(jnp.pad(v.reshape(m, n), ((0, 0), (0, rows * _CHUNK - n))))
    seg += [layer] * rows
    valid += [_CHUNK] * (rows - 1) + [n - (rows - 1) * _CHUNK]
  counts = [math.prod(v.shape[1:]) for v in vs_M]
  packed = jnp.concatenate(parts, axis=1).reshape(m, len(seg), _CHUNK)
  return packed, _Layout(np.asarray(seg, np.int32), np.asarray(valid, np.int32),
                         np.asarray(counts, np.int64))


def _mask(layout: _Layout) -> jax.Array:
  """``(K, _CHUNK)`` bool, True at real entries. The barrier keeps XLA from constant-folding it into
  a large literal, which made compiling several times slower."""
  valid = jax.lax.optimization_barrier(jnp.asarray(layout.valid))
  return jnp.arange(_CHUNK)[None, :] < valid[:, None]


def _onehot(layout: _Layout) -> np.ndarray:
  """``(K, L)`` bool: row k belongs to layer l (small; reductions over rows use it)."""
  return layout.seg[:, None] == np.arange(len(layout.counts))[None, :]


def _per_layer_sum(rows: jax.Array, layout: _Layout) -> jax.Array:
  """Sums ``(K, ...)`` row values into ``(L, ...)`` layer totals.

  A masked reduction, not a scatter (slow to compile on CPU) nor a matmul (TF32 on recent GPUs).
  """
  onehot = jnp.asarray(_onehot(layout)).reshape(*_onehot(layout).shape, *(1,) * (rows.ndim - 1))
  return jnp.sum(jnp.where(onehot, rows[:, None], 0), axis=0)


def _moments(v_KC: jax.Array, layout: _Layout) -> jax.Array:
  """``(L, 5)``: each layer's mean, std, pooled excess kurtosis (NaN if constant), min, max."""
  mask, onehot = _mask(layout), jnp.asarray(_onehot(layout))
  n = jnp.asarray(layout.counts, v_KC.dtype)
  total = lambda a: _per_layer_sum(jnp.sum(a, axis=1), layout)
  mean = total(jnp.where(mask, v_KC, 0.0)) / n
  d = jnp.where(mask, v_KC - mean[layout.seg][:, None], 0.0)
  d2 = d * d
  m2, m4 = total(d2) / n, total(d2 * d2) / n
  lo = jnp.min(jnp.where(onehot, jnp.min(jnp.where(mask, v_KC, jnp.inf), axis=1)[:, None], jnp.inf),
               axis=0)
  hi = jnp.max(jnp.where(onehot, jnp.max(jnp.where(mask, v_KC, -jnp.inf), axis=1)[:, None], -jnp.inf),
               axis=0)
  return jnp.stack([mean, jnp.sqrt(m2), m4 / (m2 * m2) - 3.0, lo, hi], axis=1)


def _hist(v_KC: jax.Array, edges_LE: jax.Array, layout: _Layout) -> jax.Array:
  """``(L, bins)`` counts, layer ``l`` on ``edges_LE[l]``, exactly as ``np.histogram``: ``[e_j,
  e_j+1)``, the last closed.

  A binary search per entry (``searchsorted``, log2(bins) steps) and one scatter-add for all layers:
  O(N log bins) time and O(N) memory. Values outside ``[e_0, e_last]`` and NaN are not counted.
  """
  n, layers = edges_LE.shape[1] - 1, len(layout.counts)
  e_KE = edges_LE[jnp.asarray(layout.seg)]
  idx = jax.vmap(lambda e, row: jnp.searchsorted(e, row, side="right"))(e_KE, v_KC) - 1
  idx = jnp.where(v_KC == e_KE[:, -1:], n - 1, idx)  # the last bin is closed
  counted = _mask(layout) & (v_KC >= e_KE[:, :1]) & (v_KC <= e_KE[:, -1:])
  flat = jnp.where(counted, jnp.asarray(layout.seg)[:, None] * n + idx, layers * n)
  return jnp.bincount(flat.reshape(-1), length=layers * n + 1)[:-1].reshape(layers, n)


def _eps_interceptor(eps: dict[int, jax.Array]) -> Any:
  """Adds ``eps[i]`` where the model sows ``preact_<i>``: the value its ``sow_preact(z, i)`` returns
  (:meth:`jaxinit.nets.models._Layers.sow_preact`), so ``dL/d eps[i] = dL/dz(i)`` in every model kind."""
  def interceptor(next_fun: Any, args: tuple, kwargs: dict, context: Any) -> Any:
    out = next_fun(*args, **kwargs)
    if context.method_name != "sow_preact":
      return out
    return out + eps[args[1]]
  return interceptor


def _member_fn(model_cfg: models.ModelConfig, train: bool) -> Any:
  """``values(variables, x, y)`` for one member: per-quantity lists of per-layer arrays, plus extras;
  BatchNorm with the batch's statistics if ``train``."""
  model = models.build(model_cfg)
  depth = model_cfg.depth
  kind = activations.get(model_cfg.activation).kind
  mutable = ["intermediates", "batch_stats"] if train and model_cfg.batch_norm else ["intermediates"]

  def values(variables: dict, x: jax.Array, y: jax.Array) -> tuple[dict, dict]:
    params = variables["params"]
    shapes = jax.eval_shape(lambda: models.logits_and_intermediates(model, variables, x))[1]
    eps = {i: jnp.zeros(shapes[f"preact_{i}"].shape, shapes[f"preact_{i}"].dtype)
           for i in range(depth)}

    def loss(params: dict, eps: dict) -> tuple[jax.Array, dict]:
      with nn.intercept_methods(_eps_interceptor(eps)):
        logits, state = model.apply({**variables, "params": params}, x, train=train,
                                    mutable=mutable)
      return jnp.mean(models.per_example_loss(logits, y)[0]), state["intermediates"]

    (g_params, g_eps), sown = jax.grad(loss, argnums=(0, 1), has_aux=True)(params, eps)
    batch = x.shape[0]
    vals = {
        "weight": [params[f"layer_{i}"]["kernel"] for i in range(depth)],
        "preact": [sown[f"preact_{i}"][0] for i in range(depth)],
        "act": [sown[f"act_{i}"][0] for i in range(depth - 1)],
        "grad_preact": [g_eps[i] * batch for i in range(depth)],
        "grad_weight": [g_params[f"layer_{i}"]["kernel"] for i in range(depth)],
    }
    per_example = lambda v: jnp.mean(v.reshape(batch, -1), axis=1)
    nan = jnp.full((depth - 1,), jnp.nan, jnp.float32)
    z_hidden = vals["preact"][:-1]
    if kind in _RELU_FAMILY:  # a unit (a channel for convolutions) never on the positive side
      dead = jnp.stack([jnp.mean(jnp.all(z <= 0, axis=tuple(range(z.ndim - 1)))) for z in z_hidden])
    else:
      dead = nan
    if kind == "tanh":
      saturated = jnp.stack([jnp.mean(jnp.abs(h) > 0.99) for h in vals["act"]])
    elif kind == "sigmoid":
      saturated = jnp.stack([jnp.mean((h < 0.01) | (h > 0.99)) for h in vals["act"]])
    else:
      saturated = nan
    extras = {
        "kernel_LB": jnp.stack([per_example(z * z) for z in vals["preact"]]),
        "grad_preact_norm": jnp.stack([jnp.mean(jnp.sum((d * d).reshape(batch, -1), axis=1))
                                       for d in vals["grad_preact"]]),
        "grad_weight_norm": jnp.stack([jnp.sqrt(jnp.sum(g * g)) for g in vals["grad_weight"]]),
        "dead": dead.astype(jnp.float32), "saturated": saturated.astype(jnp.float32),
    }
    return vals, extras

  return values


def _distinct(v_KC: jax.Array, layout: _Layout) -> jax.Array:
  """``(L,)``: the number of distinct values in each layer (exact equality; each NaN counts once).

  One sort of all layers by (layer, value), not one per layer: a fixed number of operations
  whatever the depth, as for :func:`_moments` (per-layer sorts made the program slow to compile).
  """
  layers = len(layout.counts)
  seg = jnp.where(_mask(layout), jnp.asarray(layout.seg)[:, None], layers).reshape(-1)
  values = v_KC.reshape(-1)
  order = jnp.lexsort((values, seg))
  seg, values = seg[order], values[order]
  first = jnp.concatenate([jnp.ones(1, bool), (seg[1:] != seg[:-1]) | (values[1:] != values[:-1])])
  return jnp.bincount(seg, weights=first.astype(jnp.int32), length=layers + 1)[:layers]


@functools.lru_cache(maxsize=32)
def _program(model_cfg: models.ModelConfig, bins: int | None, train: bool) -> Any:
  """``jit(f)(variables_M, x, y, edges, shared)`` -> (stats, hists, edges, extras), for one
  architecture; ``shared`` (a bool array) picks one histogram range for all layers."""
  values = _member_fn(model_cfg, train)

  def run(variables_M: dict, x: jax.Array, y: jax.Array, edges: dict[str, jax.Array],
          shared: jax.Array) -> tuple:
    vals_M, extras_M = jax.vmap(values, in_axes=(0, None, None))(variables_M, x, y)
    stats, hists, used = {}, {}, {}
    extras_M["distinct"] = {}
    for q in QUANTITIES:
      v_MKC, layout = _pack(vals_M[q])
      stats[q] = jax.vmap(functools.partial(_moments, layout=layout))(v_MKC)
      extras_M["distinct"][q] = jax.vmap(functools.partial(_distinct, layout=layout))(v_MKC)
      if q in edges:
        used[q] = jnp.broadcast_to(edges[q], (len(layout.counts), edges[q].shape[-1]))
      else:
        a = jnp.where(_mask(layout) & jnp.isfinite(v_MKC), jnp.abs(v_MKC), 0.0)
        row_max = jnp.max(a, axis=(0, 2))
        r = jnp.max(jnp.where(jnp.asarray(_onehot(layout)), row_max[:, None], 0.0), axis=0)
        r = jnp.where(shared, jnp.max(r), r)
        r = jnp.where(r > 0, r, 1.0)  # all zeros (e.g. a zeros init): edges around 0, not one point
        used[q] = jnp.linspace(-r, r, bins + 1, axis=-1)
      hists[q] = jax.vmap(functools.partial(_hist, layout=layout), in_axes=(0, None))(v_MKC, used[q])
    return stats, hists, used, extras_M

  return jax.jit(run)


def _check_edges(edges: Mapping[str, Any], model_cfg: models.ModelConfig) -> dict[str, jax.Array]:
  out = {}
  for q, e in edges.items():
    if q not in QUANTITIES:
      raise ValueError(f"edges has an unknown quantity {q!r}; known: {', '.join(QUANTITIES)}")
    e = np.asarray(e, np.float32)
    layers = model_cfg.depth - (q == "act")
    if (e.ndim not in (1, 2) or e.shape[-1] < 2 or (e.ndim == 2 and e.shape[0] != layers)
        or not np.all(np.isfinite(e)) or np.any(np.diff(e, axis=-1) <= 0)):
      raise ValueError(f"edges[{q!r}] must be finite and strictly increasing, of shape (E,) for "
                       f"every layer or ({layers}, E) for each, E >= 2; got shape {e.shape}")
    out[q] = jnp.asarray(e)
  return out


def diagnose(model_cfg: models.ModelConfig, members: Sequence[pop.Member], variables_M: dict,
             x: Any, y: Any, bins: int = 50, edges: Mapping[str, Any] | None = None, *,
             ranges: str = "layer", batch_norm: str = "train") -> Diagnostics:
  r"""Per-layer statistics of every member at one batch, in one compiled call.

  Args:
    model_cfg: the architecture.
    members: the ``M`` members, for the records' member fields.
    variables_M: their variables stacked with the model axis first
      (:func:`jaxinit.engine.population.init_params`, or trained ones).
    x: a batch ``(B, ...)``.
    y: integer labels ``(B,)`` (0/1 for a single logit).
    bins: the number of bins of the default edges (ignored for quantities given in ``edges``).
    edges: optional quantity -> bin edges (strictly increasing, stored as float32): ``(E,)`` for
      every layer or ``(layers, E)``, one row per layer that has the quantity. The others get
      ``linspace(-r, r, bins + 1)`` per layer (:data:`RANGES`): ``r`` the largest finite
      ``|value|`` of that quantity in the layer over all members (``ranges="layer"``) or in all
      layers (``"shared"``); 1 where all are 0.
    ranges: ``"layer"`` or ``"shared"``, as above.
    batch_norm: ``"train"`` (the batch's statistics) or ``"eval"`` (the running ones); no effect
      without BatchNorm.

  Returns:
    A :class:`Diagnostics`. In each record, ``kernel`` (``preact`` rows) is ``G(l) = mean z(l)^2``
    over units and batch; ``grad_norm`` is :math:`\mathrm{mean}_b \sum_i \delta_{b,i}(l)^2` for
    ``grad_preact`` and :math:`\|dL/dW(l)\|_F` for ``grad_weight``; ``dead_frac`` (``act`` rows,
    relu and leaky_relu only) is the fraction of units, channels for convolutions, whose
    preactivation is <= 0 for every example (and position); ``saturated_frac`` (``act`` rows, tanh
    and sigmoid only) is the fraction of entries with ``|tanh| > 0.99`` or sigmoid outside
    ``[0.01, 0.99]``; ``distinct`` counts the distinct values of the quantity in the layer. Fields
    that do not apply are NaN; ``pooled_kurtosis`` is NaN for constant values.

  Raises:
    ValueError: no members, variables whose model axis is not ``M``, ``x`` and ``y`` of different
      lengths or ``y`` not 1-D, labels outside the model's classes, ``bins`` < 1, bad ``edges``,
      or an unknown ``ranges`` or ``batch_norm``.

  >>> from jaxinit import data
  >>> moons = data.moons(0)
  >>> cfg = models.ModelConfig(widths=(12, 6, 1), activation="tanh")
  >>> members = pop.grid(["he_normal"], seeds=[3, 8])
  >>> variables_M = pop.init_params(cfg, members, (2,))
  >>> diag = diagnose(cfg, members, variables_M, moons.x_train[:64], moons.y_train[:64])
  >>> len(diag.records), diag.edges["act"].shape, diag.kernel_MLB.shape
  (28, (2, 51), (2, 3, 64))
  >>> {k: diag.records[1][k] for k in ("member", "layer", "quantity")}
  {'member': 0, 'layer': 1, 'quantity': 'preact'}
  """
  if not members:
    raise ValueError("the population is empty; give at least one member")
  if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
    raise ValueError(f"bins must be an int >= 1; got {bins!r}")
  m = len(members)
  lead = {leaf.shape[0] if leaf.ndim else None for leaf in jax.tree.leaves(variables_M)}
  if "params" not in variables_M or lead != {m}:
    raise ValueError(f"variables_M must be {{'params': ...}} with every leaf of shape (M={m}, ...); "
                     f"got leading sizes {sorted(map(str, lead))}")
  x, y_np = jnp.asarray(x, jnp.float32), np.asarray(y)
  if y_np.ndim != 1 or y_np.shape[0] != x.shape[0] or not np.issubdtype(y_np.dtype, np.integer):
    raise ValueError(f"y must be integer labels of shape (B,) = ({x.shape[0]},); got {y_np.dtype} "
                     f"{y_np.shape}")
  classes = 2 if model_cfg.num_outputs == 1 else model_cfg.num_outputs
  if y_np.size and (y_np.min() < 0 or y_np.max() >= classes):
    raise ValueError(f"labels must be in [0, {classes}) for a model with {model_cfg.num_outputs} "
                     f"output(s); got range [{y_np.min()}, {y_np.max()}]")
  if ranges not in RANGES:
    raise ValueError(f"unknown ranges={ranges!r}; accepted: {', '.join(RANGES)}")
  if batch_norm not in BATCH_NORM_MODES:
    raise ValueError(f"unknown batch_norm={batch_norm!r}; accepted: {', '.join(BATCH_NORM_MODES)}")
  given = _check_edges(edges or {}, model_cfg)
  fn = _program(model_cfg, None if len(given) == len(QUANTITIES) else bins,
                batch_norm == "train" and model_cfg.batch_norm)
  out = fn(variables_M, x, jnp.asarray(y_np, jnp.int32), given, jnp.bool_(ranges == "shared"))
  stats, hists, used, extras = jax.device_get(out)
  return Diagnostics(_records(model_cfg, members, stats, hists, extras),
                     {q: np.asarray(used[q], np.float32) for q in QUANTITIES},
                     np.asarray(extras["kernel_LB"]))


def _records(model_cfg: models.ModelConfig, members: Sequence[pop.Member], stats: dict, hists: dict,
             extras: dict) -> list[dict[str, Any]]:
  """Tidy rows from host arrays: stats ``(M, Lq, 5)``, hists ``(M, Lq, bins)``, extras ``(M, L...)``."""
  depth, nan = model_cfg.depth, math.nan
  rows = []
  for info in pop.member_table(members):
    k = info["member"]
    for i in range(depth):
      for q in QUANTITIES:
        if q == "act" and i == depth - 1:
          continue
        row = {**info, "layer": i + 1, "quantity": q,
               **{s: float(v) for s, v in zip(STATS, stats[q][k, i], strict=True)},
               "distinct": int(extras["distinct"][q][k, i]),
               "kernel": nan, "grad_norm": nan, "dead_frac": nan, "saturated_frac": nan}
        if q == "preact":
          row["kernel"] = float(extras["kernel_LB"][k, i].mean())
        elif q in ("grad_preact", "grad_weight"):
          row["grad_norm"] = float(extras[f"{q}_norm"][k, i])
        elif q == "act":
          row["dead_frac"] = float(extras["dead"][k, i])
          row["saturated_frac"] = float(extras["saturated"][k, i])
        row["hist"] = [int(c) for c in hists[q][k, i]]
        rows.append(row)
  return rows


def to_rows(diag: Diagnostics) -> list[dict[str, Any]]:
  """The records without ``hist``: flat rows for CSV/Markdown tables (:mod:`jaxinit.results`)."""
  return [{k: v for k, v in r.items() if k != "hist"} for r in diag.records]


def histograms(diag: Diagnostics, member: int, quantity: str) -> tuple[np.ndarray, np.ndarray]:
  """One member's histograms of one quantity, layer by layer: exactly the records' counts.

  Args:
    diag: a :func:`diagnose` result.
    member: the member index (the records' ``member``).
    quantity: one of :data:`QUANTITIES`.

  Returns:
    ``(edges_LE (layers, bins + 1), counts_LB (layers, bins))``, rows in layer order over the
    layers that have the quantity (``act``: the hidden layers only).

  Raises:
    ValueError: an unknown quantity or a member not in ``diag``.
  """
  if quantity not in QUANTITIES:
    raise ValueError(f"unknown quantity {quantity!r}; known: {', '.join(QUANTITIES)}")
  rows = [r["hist"] for r in diag.records if r["member"] == member and r["quantity"] == quantity]
  if not rows:
    count = len({r["member"] for r in diag.records})
    raise ValueError(f"member {member!r} is not in these diagnostics; accepted: 0..{count - 1}")
  return diag.edges[quantity], np.asarray(rows, np.int64)


@functools.lru_cache(maxsize=32)
def _jacobian_program(model_cfg: models.ModelConfig | protocol.Model) -> Any:
  model = protocol.of(model_cfg)

  def one(variables: dict, x_one: jax.Array) -> jax.Array:
    f = lambda v: model.apply(variables, v.reshape(1, *x_one.shape))[0][0]
    jac = jax.jacrev(f)(x_one.reshape(-1))
    return jnp.linalg.svd(jac, compute_uv=False)

  def run(variables_M: dict, x_one: jax.Array) -> jax.Array:
    return jax.vmap(one, in_axes=(0, None))(variables_M, x_one)

  return jax.jit(run)


def jacobian_singular_values(model_cfg: models.ModelConfig | protocol.Model, variables_M: dict,
                             x_one: Any) -> np.ndarray:
  """Singular values of each member's input-output Jacobian ``d logits / d x`` at one input.

  Args:
    model_cfg: the architecture, or any model in the pure form (eval mode).
    variables_M: stacked variables, model axis first.
    x_one: one input, without a batch axis (e.g. ``(2,)`` or ``(28, 28, 1)``); flattened to ``D``.

  Returns:
    ``(M, min(K, D))`` singular values in decreasing order, ``K`` the number of logits.

  Raises:
    ValueError: a CNN input that is not one ``(H, W, C)`` image.
  """
  x_one = jnp.asarray(x_one, jnp.float32)
  if isinstance(model_cfg, models.ModelConfig) and model_cfg.kind == "cnn" and x_one.ndim != 3:
    raise ValueError(f"a cnn input must be one image of shape (H, W, C); got shape {x_one.shape}")
  return np.asarray(_jacobian_program(model_cfg)(variables_M, x_one))


class EnsembleMoments(NamedTuple):
  """Moments of each layer's preactivation over an ensemble of networks at one fixed input.

  Attributes:
    second_L: :math:`E[z^2]` per layer ``(L,)``.
    ratio_L: :math:`E[z^4] / E[z^2]^2` per layer ``(L,)``: 3 for a Gaussian; its excess over 3 is
      the finite-width (1/n) effect (:func:`jaxinit.theory.finite_width.fourth_moment_ratio`).
    ratio_se_L: the standard error of ``ratio_L`` ``(L,)``: the delta method over the networks,
      which are independent draws (the units of one network are not). z^4 is heavy-tailed, so
      with a few networks this estimate is itself noisy (typically too small): trust it from about
      a hundred networks.
    networks: the number of networks ``M``.
  """

  second_L: np.ndarray
  ratio_L: np.ndarray
  ratio_se_L: np.ndarray
  networks: int


@functools.lru_cache(maxsize=32)
def _ensemble_program(model_cfg: models.ModelConfig | protocol.Model, names: tuple[str, ...]
                      ) -> Any:
  model = protocol.of(model_cfg)

  def one(variables: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    sown = model.capture(variables, x)[1]
    z = [sown[name].astype(jnp.float32) ** 2 for name in names]
    return jnp.stack([jnp.mean(v) for v in z]), jnp.stack([jnp.mean(v * v) for v in z])

  return jax.jit(jax.vmap(one, in_axes=(0, None)))


def layer_names(model_cfg: models.ModelConfig | protocol.Model, x: Any) -> tuple[str, ...]:
  """The layers measured at one input: a built-in model's ``preact_<l>``, any other model's
  :meth:`jaxinit.nets.protocol.Model.layers` (module outputs, in call order)."""
  if isinstance(model_cfg, models.ModelConfig):
    return tuple(f"preact_{i}" for i in range(model_cfg.depth))
  return model_cfg.layers(x)


def ensemble_moments(model_cfg: models.ModelConfig | protocol.Model, variables_M: dict,
                     x_one: Any) -> EnsembleMoments:
  r""":math:`E[z^4] / E[z^2]^2` of every layer's preactivations over the ``M`` networks of a
  population at one fixed input: the ensemble quantity of finite-width theory (PDLT ch. 4-5), in
  which :math:`E` is over the random initialization. The units of a layer are exchangeable, so the
  expectations also average over them (one network gives ``n_l`` correlated samples).

  Args:
    model_cfg: the architecture (eval mode).
    variables_M: the networks' variables stacked with the model axis first, ``M >= 2``.
    x_one: the input, one example without a batch axis (e.g. ``(784,)`` or ``(28, 28, 1)``).

  Returns:
    :class:`EnsembleMoments`: with :math:`a_m`, :math:`b_m` network ``m``'s mean of :math:`z^2`
    and :math:`z^4` over the layer's units, :math:`A = \bar a`, :math:`B = \bar b`, the ratio is
    :math:`B / A^2` and its standard error the sample std of :math:`b_m / A^2 - 2 B a_m / A^3`
    over networks, divided by :math:`\sqrt M`.

    A layer whose preactivations are all 0 gets NaN.

  Raises:
    ValueError: fewer than 2 networks.
  """
  x = jnp.asarray(x_one)[None]
  program = _ensemble_program(model_cfg, layer_names(model_cfg, x))
  a_ML, b_ML = (np.asarray(v, np.float64) for v in program(variables_M, x))
  m = a_ML.shape[0]
  if m < 2:
    raise ValueError(f"ensemble_moments needs at least 2 networks; got {m}")
  A, B = a_ML.mean(0), b_ML.mean(0)
  with np.errstate(divide="ignore", invalid="ignore"):  # A = 0 (a zero layer): NaN, not a warning
    g = b_ML / A ** 2 - 2 * B * a_ML / A ** 3
    ratio = np.where(A > 0, B / A ** 2, np.nan)
  return EnsembleMoments(A, ratio, np.where(A > 0, g.std(0, ddof=1), np.nan) / math.sqrt(m), m)


@functools.lru_cache(maxsize=32)
def _outputs_program(model: protocol.Model, names: tuple[str, ...]) -> Any:
  def one(variables: dict, x: jax.Array) -> jax.Array:
    sown = model.capture(variables, x)[1]
    z = [sown[name].astype(jnp.float32) for name in names]
    return jnp.stack([jnp.stack([jnp.mean(v * v), jnp.std(v)]) for v in z])

  return jax.jit(jax.vmap(one, in_axes=(0, None)))


def layer_outputs(model: protocol.Model, variables_M: dict, x: Any) -> tuple[tuple[str, ...],
                                                                              np.ndarray]:
  """Each member's layer outputs on the batch ``x`` (evaluation mode), for any model: the layers
  (:meth:`jaxinit.nets.protocol.Model.layers`) and an array ``(M, L, 2)`` of ``G = mean z^2`` (over
  examples and units: the kernel of signal propagation) and ``std z``."""
  x = jnp.asarray(x, jnp.float32)
  names = model.layers(x)
  if not names:
    raise ValueError(f"model {model.name!r} exposes no layer output (a module owning a parameter "
                     "whose output its capture returns); nothing to diagnose")
  return names, np.asarray(_outputs_program(model, names)(variables_M, x), np.float64)
