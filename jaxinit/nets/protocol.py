r"""Any model as one pure form: what the engine, the schemes and the studies take.

A researcher's network comes in one of three forms, and each becomes a :class:`Model`:

* a ``flax.nnx`` module, given as a factory ``factory(rngs: nnx.Rngs) -> nnx.Module``
  (:func:`from_nnx`); Flax recommends nnx for new code;
* a ``flax.linen`` module (:func:`from_linen`);
* a pure pair ``init(key, x) -> params``, ``apply(params, x) -> outputs`` (:func:`from_functions`).

The built-in networks are ordinary linen modules (:func:`of` a
:class:`jaxinit.nets.models.ModelConfig`).

The pure form keeps a whole population as data: the variables of one member are a dict
``{"params": tree, **state}``, every leaf an array, so ``jit(vmap(...))`` stacks ``M`` members along
a leading axis as for any pytree. ``state`` holds the non-trainable collections: linen's
``batch_stats`` (and any other mutable collection), or an nnx module's non-``Param`` variables under
``"state"`` (BatchNorm statistics, and the RNG key and count of each ``nnx.Dropout``, so every member
drops its own units and a resumed run continues its stream). Parameter paths are ``/``-joined names,
``"encoder/proj_a/kernel"``, the names the path rules of :mod:`jaxinit.schemes.rules` and the
parametrization's roles (:mod:`jaxinit.nets.roles`) are written against.

Three functions make the form (each pure, jit- and vmap-able):

* ``init(key, x) -> variables``: one member from a PRNG key; ``x`` is an example batch ``(B, ...)``
  (only its shape counts for nnx and pure pairs).
* ``apply(variables, x, train, key) -> (outputs, state)``: the forward pass in training
  (``train=True``: BatchNorm on batch statistics, dropout on) or evaluation mode, returning the
  updated ``state`` collections (``{}`` without any). ``key`` feeds a linen model's ``dropout`` stream.
* ``capture(variables, x) -> (outputs, intermediates)``: evaluation mode, with every submodule's
  output and every sown value by path (``"encoder/proj_a"``; a linen model's sown
  ``"preact_0"``), sorted by path: what the coordinate check and the diagnostics measure.

References: Flax's ``nnx.split``/``nnx.merge`` (the functional API) and linen's
``capture_intermediates``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx

from jaxinit.nets import models, parametrizations

__all__ = ["Model", "from_nnx", "from_linen", "from_functions", "of", "path_str", "flat_paths",
           "Layout", "DROPOUT_STREAM", "parametrize", "roles", "Spec", "resolve"]

DROPOUT_STREAM = 0xD0
"""A linen model's dropout key at step ``t``: ``fold_in(fold_in(key(seed), DROPOUT_STREAM), t)``."""


@dataclasses.dataclass(frozen=True)
class Layout:
  """How a weight's axes split into fan-in and fan-out: the last ``out_axes`` axes are the outputs,
  the ``in_axes`` before them the inputs, any leading axes the receptive field (a convolution's
  window). A dense kernel ``(in, out)`` is ``Layout(1, 1)``; a conv kernel ``(h, w, in, out)`` too (its
  window in front); an attention query projection ``(d_model, heads, d_head)`` is ``Layout(1, 2)``,
  its output projection ``(heads, d_head, d_model)`` is ``Layout(2, 1)``."""

  in_axes: int = 1
  out_axes: int = 1

  def draw_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape an initializer draws so that its fans (Flax's convention: the last axis out, the
    one before in, the rest the receptive field) are this layout's: ``(*window, prod(in),
    prod(out))``; the draw is reshaped to ``shape``.

    A leaf with fewer axes than the layout's (the layer's bias, ``(heads, d_head)``) is a vector.

    >>> Layout(1, 2).draw_shape((64, 4, 16)), Layout(2, 1).draw_shape((4, 16, 64))
    ((64, 64), (64, 64))
    >>> Layout(1, 2).draw_shape((4, 16))
    (64,)
    """
    n = len(shape)
    if n < max(2, self.in_axes + self.out_axes):  # a bias of the layer: a vector
      return (math.prod(shape),) if n else shape
    outs, ins = self.out_axes, min(self.in_axes, n - self.out_axes)
    window = shape[:n - outs - ins]
    return (*window, math.prod(shape[n - outs - ins:n - outs]), math.prod(shape[n - outs:]))


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
  """A model in the pure form (module docstring). Compared and hashed by identity, so compiled
  programs are cached per model object.

  Attributes:
    name: what the model is, for logs and records (e.g. ``"mypkg.nets:tiny"``).
    init: ``(key, x) -> {"params": ..., **state}``.
    apply: ``(variables, x, train, key) -> (outputs, state)``.
    capture: ``(variables, x) -> (outputs, {path: array})``, evaluation mode.
    layouts: ``x_shape -> {module path: Layout}``, each weight's :class:`Layout` where it differs
      from ``Layout(1, 1)`` (general dense layers, attention projections).
    call_order: ``x_shape -> module paths`` in the order the forward pass first calls them (found
      by tracing shapes); ``()`` when unknown (a pure pair).
    parametrization: the parametrization's canonical name (:func:`parametrize`); ``"sp"``.
    roles: each parameter's role by path (:func:`roles`), for a parametrization other than SP.
    width_multiplier: ``m = n / base_width``.
  """

  name: str
  init: Callable[[jax.Array, jax.Array], dict]
  apply: Callable[..., tuple[Any, dict]]
  capture: Callable[[dict, jax.Array], tuple[Any, dict[str, jax.Array]]]
  layouts: Callable[[tuple[int, ...]], Mapping[str, Layout]] = lambda x_shape: {}
  call_order: Callable[[tuple[int, ...]], tuple[str, ...]] = lambda x_shape: ()
  parametrization: str = parametrizations.DEFAULT
  roles: Mapping[str, str] = dataclasses.field(default_factory=dict)
  width_multiplier: float = 1.0

  def leaf_scales(self, adaptive: bool = False) -> dict[str, parametrizations.LeafScale]:
    """Each parameter's init, multiplier and learning-rate factor under :attr:`parametrization`
    (none for ``sp``): :func:`jaxinit.nets.parametrizations.leaf_scales` of its :attr:`roles`."""
    if self.parametrization == parametrizations.DEFAULT:
      return {}
    return parametrizations.leaf_scales(self.parametrization, self.roles, self.width_multiplier,
                                        adaptive)

  def in_call_order(self, paths: Any, x_shape: tuple[int, ...]) -> list[str]:
    """``paths`` (module paths, or parameter paths by their module) sorted by the order the
    forward pass first calls their modules (:attr:`call_order`); paths it does not know come last,
    sorted with numbers compared as numbers."""
    order = {p: k for k, p in enumerate(self.call_order(tuple(x_shape)))}

    def key(path: str) -> tuple:
      module = path if path in order else path.rpartition("/")[0]
      return (order.get(module, len(order)), [(0, int(t), "") if t.isdigit() else (1, 0, t)
                                              for t in path.split("/")])
    return sorted(paths, key=key)

  def layer_shapes(self, x: Any) -> dict[str, tuple[int, ...]]:
    """The shape of each layer's output for inputs like ``x``, from shapes alone: a layer is a
    module that owns a parameter and whose output :attr:`capture` returns."""
    variables = jax.eval_shape(self.init, jax.random.key(0), _spec(x))
    _, inter = jax.eval_shape(self.capture, variables, _spec(x))
    owners = {p.rpartition("/")[0] for p in flat_paths(variables["params"])}
    return {k: tuple(v.shape) for k, v in inter.items() if k in owners}

  def layers(self, x: Any) -> tuple[str, ...]:
    """The model's layers (:meth:`layer_shapes`) in the order the forward pass calls them: what
    the coordinate check, the diagnostics and LSUV measure."""
    return tuple(self.in_call_order(list(self.layer_shapes(x)), tuple(x.shape)))

  def param_shapes(self, x: Any) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape by path, from shapes alone (nothing is computed)."""
    variables = jax.eval_shape(self.init, jax.random.key(0), _spec(x))
    return {p: tuple(v.shape) for p, v in flat_paths(variables["params"]).items()}

  def output_shape(self, x: Any) -> tuple[int, ...]:
    """The outputs' shape for the batch ``x`` (an array or a ``ShapeDtypeStruct``)."""
    variables = jax.eval_shape(self.init, jax.random.key(0), _spec(x))
    out, _ = jax.eval_shape(lambda v, x: self.apply(v, x, False, None), variables, _spec(x))
    return tuple(out.shape)


def _spec(x: Any) -> jax.ShapeDtypeStruct:
  return jax.ShapeDtypeStruct(tuple(x.shape), jnp.float32)


def path_str(path: tuple) -> str:
  """A pytree key path as ``/``-joined names: ``(DictKey('enc'), DictKey('kernel'))`` ->
  ``"enc/kernel"``."""
  parts = []
  for k in path:
    for attr in ("key", "name", "idx"):
      if hasattr(k, attr):
        parts.append(str(getattr(k, attr)))
        break
  return "/".join(parts)


def flat_paths(tree: Any) -> dict[str, Any]:
  """``{path: leaf}`` of a pytree, in its leaves' order."""
  return {path_str(p): v for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _general_out_axes(module: Any) -> int | None:
  """How many output axes a general dense layer's kernel has (nnx ``LinearGeneral``: its
  ``out_features``; linen ``DenseGeneral``: its ``features``), or None for other modules."""
  name = type(module).__name__
  features = {"LinearGeneral": "out_features", "DenseGeneral": "features"}.get(name)
  if features is None:
    return None
  value = getattr(module, features)
  return len(value) if isinstance(value, tuple | list) else 1


def _layout(module: Any, kernel_ndim: int | None) -> Layout | None:
  outs = _general_out_axes(module)
  if outs is None or kernel_ndim is None:
    return None
  return Layout(in_axes=max(kernel_ndim - outs, 1), out_axes=outs)


# ----------------------------------------------------------------------------------------------- nnx

def from_nnx(factory: Callable[[nnx.Rngs], nnx.Module], name: str = "nnx") -> Model:
  """The pure form of an nnx module built by ``factory(rngs)``.

  A member's variables are ``factory(nnx.Rngs(key))`` split into its ``nnx.Param`` leaves
  (``"params"``) and everything else (``"state"``: BatchNorm statistics, Dropout's RNG key and
  count), as plain dicts. Training mode is the module's ``.train()``, evaluation its ``.eval()``.

  Raises:
    TypeError: ``factory`` is an already built module (it must build one from ``rngs``, so every
      member gets its own draw).
  """
  if isinstance(factory, nnx.Module):
    raise TypeError("an nnx model is given as a factory, rngs -> module (e.g. lambda rngs: "
                    "MyNet(..., rngs=rngs)), so that each member is built from its own key; got a "
                    f"built {type(factory).__name__}")
  abstract = nnx.eval_shape(lambda: factory(nnx.Rngs(0)))
  graphdef, params_abs, rest_abs = nnx.split(abstract, nnx.Param, ...)
  params_def, rest_def = jax.tree.structure(params_abs), jax.tree.structure(rest_abs)
  layouts = {}
  for path, module in nnx.iter_graph(abstract):
    kernel = getattr(module, "kernel", None)
    layout = _layout(module, len(kernel.shape) if kernel is not None else None)
    if layout is not None:
      layouts["/".join(map(str, path))] = layout

  # RNG keys (Dropout's streams) are kept as their raw uint32 data, so that a population's state
  # is plain arrays on the host too (checkpoints, padding, gathering).
  is_key = [jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key) for v in jax.tree.leaves(rest_abs)]

  def split(module: nnx.Module) -> dict:
    _, params, rest = nnx.split(module, nnx.Param, ...)
    state = nnx.to_pure_dict(rest)
    leaves, treedef = jax.tree.flatten(state)
    raw = [jax.random.key_data(v) if k else v for v, k in zip(leaves, is_key, strict=True)]
    return {"params": nnx.to_pure_dict(params), "state": jax.tree.unflatten(treedef, raw)}

  def merge(variables: dict) -> nnx.Module:
    params = jax.tree.unflatten(params_def, jax.tree.leaves(variables["params"]))
    leaves = jax.tree.leaves(variables.get("state", {}))
    typed = [jax.random.wrap_key_data(v) if k else v for v, k in zip(leaves, is_key, strict=True)]
    return nnx.merge(graphdef, params, jax.tree.unflatten(rest_def, typed))

  def init(key: jax.Array, x: jax.Array) -> dict:
    del x
    return split(factory(nnx.Rngs(key)))

  def apply(variables: dict, x: jax.Array, train: bool = False, key: jax.Array | None = None
            ) -> tuple[Any, dict]:
    del key  # nnx modules carry their RNG streams in their state
    module = merge(variables)
    module.train() if train else module.eval()
    out = module(x)
    return out, {"state": split(module)["state"]}

  def capture(variables: dict, x: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
    module = merge(variables)
    module.eval()
    out, inter = nnx.capture(module, nnx.Intermediate, method_outputs=nnx.Intermediate)(x)
    named = {}
    for path, value in flat_paths(nnx.to_pure_dict(inter)).items():
      key = path.removesuffix("/__call__").removesuffix("/0")
      named[key.removesuffix("/__call__")] = value
    named.pop("__call__", None)
    return out, named

  @functools.lru_cache(maxsize=8)
  def call_order(x_shape: tuple[int, ...]) -> tuple[str, ...]:
    return _nnx_call_order(abstract, x_shape)

  return Model(name, init, apply, capture, lambda x_shape: layouts, call_order)


def _nnx_call_order(abstract: nnx.Module, x_shape: tuple[int, ...]) -> tuple[str, ...]:
  """The module paths in the order ``module(x)`` first calls them: each submodule class's
  ``__call__`` is wrapped to record its instance while the call is traced by shapes (the classes
  are restored after)."""
  paths = {id(m): "/".join(map(str, p)) for p, m in nnx.iter_graph(abstract)
           if isinstance(m, nnx.Module) and p}
  classes = {type(m) for p, m in nnx.iter_graph(abstract) if isinstance(m, nnx.Module) and p}
  order: list[str] = []
  originals = {cls: cls.__dict__.get("__call__") for cls in classes}

  def wrap(cls: type) -> Callable[..., Any]:
    inner = cls.__call__

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
      path = paths.get(id(self))
      if path is not None and path not in order:
        order.append(path)
      return inner(self, *args, **kwargs)
    return call

  try:
    for cls in classes:
      cls.__call__ = wrap(cls)

    def forward(graphdef: Any, state: Any, x: jax.Array) -> Any:
      module = nnx.merge(graphdef, state)
      paths.update({id(m): "/".join(map(str, p)) for p, m in nnx.iter_graph(module)
                    if isinstance(m, nnx.Module) and p})
      module.eval()
      return module(x)

    graphdef, state = nnx.split(abstract)
    jax.eval_shape(lambda st: forward(graphdef, st, jnp.zeros(x_shape)), state)
  finally:
    for cls, original in originals.items():
      if original is None:
        del cls.__call__
      else:
        cls.__call__ = original
  return tuple(order)


# ------------------------------------------------------------------------------------------- linen

def _call_flags(module: nn.Module) -> dict[str, str]:
  """Which mode argument the module's ``__call__`` takes: ``train`` or ``deterministic``."""
  params = inspect.signature(type(module).__call__).parameters
  return {k: k for k in ("train", "deterministic") if k in params}


def _mode(flags: dict[str, str], train: bool) -> dict[str, bool]:
  return {k: (train if k == "train" else not train) for k in flags}


def from_linen(module: nn.Module, name: str | None = None) -> Model:
  """The pure form of a linen module: ``module.init`` / ``module.apply``.

  The mode is passed as the module's own ``train=`` or ``deterministic=`` argument when its
  ``__call__`` takes one; every collection but ``params`` is state, and mutable in training; a
  step's ``key`` is the ``dropout`` stream.
  """
  flags = _call_flags(module)

  def init(key: jax.Array, x: jax.Array) -> dict:
    variables = module.init(key, x, **_mode(flags, False))
    return dict(variables)

  def apply(variables: dict, x: jax.Array, train: bool = False, key: jax.Array | None = None
            ) -> tuple[Any, dict]:
    state = [c for c in variables if c != "params"]
    rngs = {"dropout": key} if key is not None and train else None
    if train and state:
      out, updates = module.apply(variables, x, **_mode(flags, True), mutable=state, rngs=rngs)
      return out, dict(updates)
    return module.apply(variables, x, **_mode(flags, train), rngs=rngs), {}

  def capture(variables: dict, x: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
    out, sown = module.apply(variables, x, **_mode(flags, False), capture_intermediates=True,
                             mutable=["intermediates"])
    named = {}
    for path, value in flat_paths(sown["intermediates"]).items():
      key = path.removesuffix("/0").removesuffix("/__call__")
      if key != "__call__":
        named[key] = value
    return out, named

  @functools.lru_cache(maxsize=8)
  def call_order(x_shape: tuple[int, ...]) -> tuple[str, ...]:
    order: list[str] = []

    def record(next_fun: Any, args: Any, kwargs: Any, context: Any) -> Any:
      path = "/".join(context.module.path)
      if context.method_name == "__call__" and path and path not in order:
        order.append(path)
      return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
      jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(x_shape),
                                         **_mode(flags, False)))
    return tuple(order)

  return Model(name or type(module).__name__, init, apply, capture, _linen_layouts(module),
               call_order)


def _linen_layouts(module: nn.Module) -> Callable[[tuple[int, ...]], dict[str, Layout]]:
  """The general dense layers' layouts for an input shape, found by tracing ``module.init`` (shapes
  only) with a method interceptor that records each such layer."""

  @functools.lru_cache(maxsize=8)
  def layouts(x_shape: tuple[int, ...]) -> dict[str, Layout]:
    found: dict[str, Any] = {}

    def record(next_fun: Any, args: Any, kwargs: Any, context: Any) -> Any:
      if _general_out_axes(context.module) is not None:
        found["/".join(context.module.path)] = context.module
      return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
      variables = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(x_shape)))
    kernels = flat_paths(variables.get("params", {}))
    out = {}
    for path, layer in found.items():
      kernel = kernels.get(f"{path}/kernel")
      if (layout := _layout(layer, kernel.ndim if kernel is not None else None)) is not None:
        out[path] = layout
    return out

  return layouts


# ---------------------------------------------------------------------------------- pure functions

def from_functions(init: Callable[[jax.Array, jax.Array], Any],
                   apply: Callable[[Any, jax.Array], Any], name: str = "functions") -> Model:
  """The pure form of ``init(key, x) -> params`` and ``apply(params, x) -> outputs`` (no state, no
  mode; ``capture`` returns no intermediates)."""

  def init_(key: jax.Array, x: jax.Array) -> dict:
    return {"params": init(key, x)}

  def apply_(variables: dict, x: jax.Array, train: bool = False, key: jax.Array | None = None
             ) -> tuple[Any, dict]:
    del train, key
    return apply(variables["params"], x), {}

  def capture(variables: dict, x: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
    return apply(variables["params"], x), {}

  return Model(name, init_, apply_, capture)


def roles(at_width: Callable[[int], Model], width: int, x: Any) -> dict[str, str]:
  """Each parameter's role (input, hidden, output, bias, fixed) from the model built at ``width`` and
  at ``2 * width`` (:func:`jaxinit.nets.parametrizations.infer_roles`), each weight's shape taken in
  its layout's fan form (an attention projection ``(d, heads, d_head)`` as ``(d, heads * d_head)``)."""
  shapes = []
  for w in (width, 2 * width):
    model = at_width(w)
    layouts = model.layouts(tuple(x.shape))
    shapes.append({p: layouts.get(p.rpartition("/")[0], Layout()).draw_shape(shape)
                   for p, shape in model.param_shapes(x).items()})
  return parametrizations.infer_roles(*shapes)


def parametrize(at_width: Callable[[int], Model], width: int, parametrization: str, x: Any
                ) -> Model:
  """``at_width(width)`` under a parametrization (SP, NTK, muP, mean-field) with roles inferred
  from two widths (:func:`roles`), for any model: each parameter's draw times its init factor
  (the engine applies it after the scheme's draw), its learning rate times its factor, and its
  forward multiplier applied to the parameter itself, ``W = alpha w`` (the model sees ``alpha w``),
  which for a dense layer is the multiplier on its input, ``alpha W h + b``.

  What the model must do itself: anything that is not a parameter's scale. Attention's logit scale
  (``1/sqrt(d_head)`` in SP, ``1/d_head`` in muP: Tensor Programs V, §4) is the model's code, so a
  muP transformer's factory takes it as an argument.

  Args:
    at_width: ``width -> Model``; the width is the parametrization's ``n`` (hidden units, channels,
      ``d_model``).
    width: the width of the model returned.
    parametrization: a name, e.g. ``"mup(base_width=64)"``.
    x: an example batch (its shape).
  """
  p = parametrizations.get(parametrization)
  model = at_width(width)
  if p.kind == parametrizations.DEFAULT:
    return model
  found = roles(at_width, width, x)
  m = width / p.base_width
  alphas = {path: s.multiplier for path, s in
            parametrizations.leaf_scales(p, found, m).items() if s.multiplier != 1.0}

  def multiplied(variables: dict) -> dict:
    if not alphas:
      return variables
    params = jax.tree_util.tree_map_with_path(
        lambda q, w: w * jnp.asarray(alphas.get(path_str(q), 1.0), w.dtype)
        if path_str(q) in alphas else w, variables["params"])
    return {**variables, "params": params}

  def apply(variables: dict, x: jax.Array, train: bool = False, key: jax.Array | None = None
            ) -> tuple[Any, dict]:
    return model.apply(multiplied(variables), x, train, key)

  def capture(variables: dict, x: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
    return model.capture(multiplied(variables), x)

  return dataclasses.replace(model, apply=apply, capture=capture, parametrization=p.name,
                             roles=found, width_multiplier=m)


_BUILT_IN: dict[tuple, Model] = {}


def of(model: Any, dtype: Any = None, name: str | None = None) -> Model:
  """The :class:`Model` of ``model``: a :class:`Model` itself, a built-in
  :class:`jaxinit.nets.models.ModelConfig` (its linen module, in computation ``dtype``; one object
  per config, so compiled programs are shared), a linen module, or an nnx factory.

  Raises:
    TypeError: anything else, saying what is accepted.
  """
  if isinstance(model, Model):
    return model
  if isinstance(model, models.ModelConfig):
    key = (model, jnp.dtype(dtype).name if dtype is not None else None)
    if key not in _BUILT_IN:
      _BUILT_IN[key] = from_linen(models.build(model, dtype=dtype), name or model.kind)
    return _BUILT_IN[key]
  if isinstance(model, nn.Module):
    return from_linen(model, name)
  if callable(model) and not isinstance(model, nnx.Module):
    return from_nnx(model, name or getattr(model, "__name__", "nnx"))
  raise TypeError(f"a model must be a flax.nnx factory (rngs -> module), a flax.linen module, a "
                  f"jaxinit ModelConfig or a protocol.Model (from_functions(init, apply)); got "
                  f"{type(model).__name__}")


@dataclasses.dataclass(frozen=True)
class Spec:
  """A user's model by name, as a sweep's ``config.json`` and the CLI (``--model
  package.module:factory``) hold it: the ``module:attr`` convention of entry points.

  ``factory(**args)`` is called as follows: a factory with an ``rngs`` parameter is an nnx module
  (a class or a function), built per member as ``factory(**args, rngs=nnx.Rngs(key))``; any other
  returns a ``flax.linen`` module or a :class:`Model`.

  Attributes:
    target: ``"package.module:attr"`` (``attr`` may be dotted: ``"mypkg.nets:Zoo.tiny"``).
    args: the factory's keyword arguments, as a JSON object text (canonical: sorted keys).
    parametrization: SP, or a width-scaled one (``"mup(base_width=64)"``), whose roles are
      inferred from the model at ``args[width_arg]`` and twice that (:func:`parametrize`).
    width_arg: the factory argument that is the width (for parametrizations and width sweeps).
  """

  target: str
  args: str = "{}"
  parametrization: str = parametrizations.DEFAULT
  width_arg: str = "width"

  def __post_init__(self) -> None:
    module, sep, attr = self.target.partition(":")
    if not sep or not module or not attr or not all(
        part.isidentifier() for part in (*module.split("."), *attr.split("."))):
      raise ValueError(f"--model {self.target!r}: accepted: mlp, cnn, resmlp, or a factory as "
                       "package.module:attr (e.g. mypkg.nets:tiny_transformer)")
    try:
      args = json.loads(self.args) if isinstance(self.args, str) else dict(self.args)
    except json.JSONDecodeError as e:
      raise ValueError(f"model arguments {self.args!r} are not a JSON object ({e.msg}); accepted: "
                       'e.g. {"width": 128, "depth": 4}') from None
    if not isinstance(args, dict):
      raise ValueError(f"model arguments must be a JSON object; got {self.args!r}")
    object.__setattr__(self, "args", json.dumps(args, sort_keys=True))
    p = parametrizations.get(self.parametrization)
    object.__setattr__(self, "parametrization", p.name)
    if p.kind != parametrizations.DEFAULT and not isinstance(args.get(self.width_arg), int):
      raise ValueError(f"parametrization {p.name} scales with the width: give the factory's "
                       f"{self.width_arg!r} argument as an int (e.g. --model-args "
                       f"'{{\"{self.width_arg}\": 128}}') or name it with width_arg")

  @property
  def kwargs(self) -> dict[str, Any]:
    return json.loads(self.args)

  @property
  def width(self) -> int | None:
    """The width argument's value, if given."""
    return self.kwargs.get(self.width_arg)

  def at_width(self, width: int) -> Spec:
    """The same model with the width argument set to ``width`` (a width sweep's point)."""
    return dataclasses.replace(self, args=json.dumps({**self.kwargs, self.width_arg: width}))

  def build(self, x: Any) -> Model:
    """The :class:`Model` (parametrized) for inputs like ``x`` (its shape); one object per spec
    and input shape.

    Raises:
      ValueError: the module cannot be imported, has no such attribute, or the factory fails or
        returns something that is not a model; the message says which.
    """
    return _spec_model(self, tuple(x.shape[1:]))


@functools.lru_cache(maxsize=32)
def _spec_model(spec: Spec, input_shape: tuple[int, ...]) -> Model:
  """One :class:`Model` object per (spec, input shape), so compiled programs are shared."""
  if spec.parametrization == parametrizations.DEFAULT:
    return _built(spec, spec.args)
  x = jax.ShapeDtypeStruct((2, *input_shape), jnp.float32)
  return parametrize(lambda w: _built(spec, json.dumps({**spec.kwargs, spec.width_arg: w},
                                                       sort_keys=True)),
                     spec.width, spec.parametrization, x)


def resolve(target: str) -> Any:
  """The object ``"package.module:attr"`` names.

  Raises:
    ValueError: the module cannot be imported or has no such attribute.
  """
  module_name, _, attr = target.partition(":")
  try:
    obj = pkgutil.resolve_name(target)  # the entry-point convention, as the standard library reads it
  except ImportError as e:
    raise ValueError(f"--model {target}: cannot import {module_name} ({e}); is it on PYTHONPATH?"
                     ) from None
  except AttributeError:
    raise ValueError(f"--model {target}: {module_name} has no attribute {attr!r}") from None
  if not callable(obj):
    raise ValueError(f"--model {target}: {attr} is not callable; accepted: a factory (an nnx module "
                     "class, a function returning a linen module or a protocol.Model)")
  return obj


@functools.lru_cache(maxsize=64)
def _built(spec: Spec, args: str) -> Model:
  """The model ``spec``'s factory builds with the arguments ``args`` (JSON text)."""
  factory, kwargs = resolve(spec.target), json.loads(args)
  name = f"{spec.target}({', '.join(f'{k}={v!r}' for k, v in sorted(kwargs.items()))})"
  nnx_class = isinstance(factory, type) and issubclass(factory, nnx.Module)
  try:
    params = inspect.signature(factory.__init__ if nnx_class else factory).parameters
  except (TypeError, ValueError):
    params = {}
  try:
    if nnx_class or "rngs" in params:
      model = from_nnx(lambda rngs: factory(**kwargs, rngs=rngs), name)
    else:
      model = factory(**kwargs)
  except TypeError as e:
    raise ValueError(f"--model {spec.target} with arguments {spec.args}: {e}") from None
  if isinstance(model, Model | nn.Module):
    return of(model, name=name)
  raise ValueError(f"--model {spec.target} returned a {type(model).__name__}; accepted: a "
                   "flax.linen module or a jaxinit protocol.Model (an nnx factory takes rngs)")
