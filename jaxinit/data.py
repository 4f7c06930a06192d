"""Datasets for initialization experiments: two toy 2-D sets and Gaussian inputs made in-process,
MNIST and Fashion-MNIST.

Every loader returns a :class:`Dataset` of NumPy arrays, scaled as ``normalize`` says
(:data:`NORMALIZATIONS`; the affine map is kept in ``mean``/``std``, so ``raw = x * std + mean``):
``standard`` (the default) subtracts the train split's mean and divides by its std, per feature for
vector data and one scalar for the image sets; ``per_feature`` does it per feature (per pixel for
images); ``unit`` maps pixels to [0, 1] (``x / 255``); ``none`` keeps the raw values (pixels
0..255). The toy sets (``moons``, ``circles``) follow ``sklearn.datasets`` and depend only on the
seed; ``gaussian(dim, n, n_test, classes)`` is i.i.d. N(0, 1) inputs with uniformly random labels
(signal propagation without data; not standardised unless asked); ``modular(p, op, train_fraction)``
(modular arithmetic, the grokking task) and ``recall(pairs, keys, values, n, n_test)`` (associative
recall) are token tasks, their inputs token ids as float32. MNIST and Fashion-MNIST are read from
the four standard IDX files in a folder (``data_dir`` or ``$JAXINIT_DATA_DIR``), or, without a
folder, through the optional ``tensorflow-datasets`` (``pip install "jaxinit[tfds]"``); the files
are checked against the published sets' label counts (:func:`identify`), so MNIST files are not
trained on as Fashion-MNIST. ``tfds:NAME`` is any tensorflow-datasets image classification set
(``tfds:cifar10``), read through ``tfds.data_source`` without TensorFlow (:func:`tfds_image_set`).
Any name may end in ``validation=V`` (``tfds:cifar10(validation=5000)``): ``V`` train examples,
drawn by the data seed, are held out and evaluated on in place of the test split (:func:`hold_out`,
init2winit's convention). Missing, unreadable, corrupt or mismatched data, and any failure of the
tfds stack, raises :class:`DataError` (one line: what failed, what is accepted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import importlib
import inspect
import logging
import math
import operator
import os
import pathlib
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from jaxinit import names

__all__ = ["nbytes", "family", "num_classes", "num_outputs", "FAMILIES", "Dataset", "DataError",
           "moons", "circles", "gaussian", "mnist", "fashion_mnist", "modular", "recall",
           "vocabulary", "TOKEN_SETS", "MODULAR_OPS",
           "read_idx", "identify", "load", "canonical", "known", "ENV_VAR", "IDX_FILES", "LOADERS",
           "ALIASES", "NORMALIZATIONS", "default_normalize", "check_normalize", "Fingerprint",
           "FINGERPRINTS", "PIXEL_MEAN_TOLERANCE", "TFDS_PREFIX", "TfdsInfo", "tfds_image_set",
           "fingerprint", "hold_out", "validation", "evaluated_on", "VALIDATION_STREAM"]

NORMALIZATIONS = ("standard", "per_feature", "unit", "none")
"""How inputs are scaled (``normalize=``): train mean and std (one scalar for images, per feature
for vector data), per feature (per pixel), pixels / 255, or raw."""

ENV_VAR = "JAXINIT_DATA_DIR"
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
_WHERE = {"mnist": "torchvision.datasets.MNIST(root, download=True) leaves them in root/MNIST/raw",
          "fashion_mnist": "torchvision.datasets.FashionMNIST(root, download=True) leaves them in "
                           "root/FashionMNIST/raw; so does a clone of zalandoresearch/fashion-mnist, "
                           "in data/fashion"}
"""Where the IDX files of each image set can be had (the hint of a missing-files error)."""
TFDS_PREFIX = "tfds:"
"""``tfds:NAME``: an image classification set of tensorflow-datasets (:func:`tfds_image_set`)."""
_TFDS_NAME = re.compile(r"[a-z][a-z0-9_]*(/[a-z0-9_.]+)?(:[0-9]+\.[0-9]+\.[0-9]+)?")
_TFDS_DIRS = "--data-dir (data_dir) or $TFDS_DATA_DIR"
_TFDS_PREPARE = ("its files prepared in {dirs} (default ~/tensorflow_datasets), made on a machine "
                 "with network by `tfds build {name} --file_format=array_record` or "
                 "tfds.data_source('{name}', download=True)")
_TITLE = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


class DataError(ValueError):
  """Data that is missing, unreadable, corrupt, malformed, or not the dataset named.

  A :class:`ValueError`, so that callers treating bad input as a usage error (the command line exits
  with status 2) treat bad data the same way; the message says what was wrong and what is accepted.
  """


class Fingerprint(NamedTuple):
  """What identifies a published image set: label counts per class 0..9 and the train pixel mean."""

  train_counts: tuple[int, ...]
  test_counts: tuple[int, ...]
  pixel_mean: float  # train pixels, 0..255 scale


# The published files' fingerprints. MNIST: counted from its published label files
# (np.bincount(read_idx(...)) of train-labels-idx1-ubyte, uncompressed sha256 65a50cbb...01c5, and
# t10k-labels-idx1-ubyte, ff7bcfd4...33f2) and the mean of train-images-idx3-ubyte (sha256
# ba891046...76db), 1567298545 / 47040000 = 33.3184. Fashion-MNIST: balanced by construction, 6000
# train and 1000 test images per class (zalandoresearch/fashion-mnist README); train pixel mean 72.94
# (0.2860 after /255), the statistic commonly quoted for it. Label counts are exact for the published
# files; the pixel mean tells them apart from other balanced 60000/10000 sets (Kuzushiji-MNIST: ~48.9).
FINGERPRINTS: dict[str, Fingerprint] = {
    "mnist": Fingerprint((5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
                         (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009), 33.3184),
    "fashion_mnist": Fingerprint((6000,) * 10, (1000,) * 10, 72.94),
}
PIXEL_MEAN_TOLERANCE = 1.0  # on the 0..255 scale; the published means are 40 apart


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
  """A classification dataset, standardised with its train split's statistics.

  Attributes:
    name: the dataset's registry name, e.g. ``"moons"``.
    x_train, x_test: float32 inputs of shape ``(N, *feature_shape)``.
    y_train, y_test: int32 labels in ``[0, num_classes)`` of shape ``(N,)``.
    num_classes: number of classes.
    mean, std: float32 train statistics that were applied, broadcastable to one example
      (``(2,)`` for the toy sets, ``(1, 1, 1)`` for the image sets): ``raw = x * std + mean``.
    source: where the examples came from, for a run record: ``"generated: moons(seed=0, ...)"``, or
      the IDX folder (or ``tensorflow_datasets mnist 3.0.1 in ...``) then ``"; verified: mnist"``
      when the files are the published set (:func:`identify`) or ``"; unverified: ..."`` when they
      are other files; a ``tfds:NAME`` set's version, splits and :func:`fingerprint`; then what
      ``test_*`` is where a validation split was asked for (:func:`hold_out`).
  """

  name: str
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  num_classes: int
  mean: np.ndarray
  std: np.ndarray
  source: str = ""

  @property
  def feature_shape(self) -> tuple[int, ...]:
    """The shape of one example, e.g. ``(2,)`` or ``(28, 28, 1)``."""
    return tuple(self.x_train.shape[1:])

  def subset(self, n_train: int, n_test: int) -> Dataset:
    """Returns the first ``n_train`` train and ``n_test`` test examples (same ``mean``/``std``).

    Raises:
      ValueError: a count below 1 or above the examples available.
    """
    have = (len(self.y_train), len(self.y_test))
    if not all(1 <= operator.index(n) <= h for n, h in zip((n_train, n_test), have, strict=True)):
      raise ValueError(f"{self.name}: subset(n_train={n_train}, n_test={n_test}) is out of range; "
                       f"accepted: 1 <= n_train <= {have[0]} and 1 <= n_test <= {have[1]}")
    return dataclasses.replace(self, x_train=self.x_train[:n_train], y_train=self.y_train[:n_train],
                               x_test=self.x_test[:n_test], y_test=self.y_test[:n_test])


# ----------------------------------------------------------------------------- toy sets


def _toy(name: str, seed: int, n_train: int, n_test: int, noise: float,
         make: Callable[[int, int], np.ndarray], normalize: str, extra: str = "") -> Dataset:
  """Draws both splits of a two-class 2-D set; ``make(n0, n1)`` gives the noise-free points."""
  seed = names.check_int("seed", name, seed, 0)
  check_normalize(name, normalize)
  sizes = (names.check_int("n_train", name, n_train, 2),
           names.check_int("n_test", name, n_test, 1))
  if not (isinstance(noise, (int, float, np.number)) and math.isfinite(noise) and noise >= 0):
    raise ValueError(f"{name}: noise={noise!r} is not accepted; accepted: a finite number >= 0")
  splits = []
  for stream, n in zip(np.random.SeedSequence(seed).spawn(2), sizes, strict=True):
    rng = np.random.default_rng(stream)
    x = make(n // 2, n - n // 2) + rng.normal(scale=noise, size=(n, 2))
    y = np.repeat(np.array([0, 1], np.int32), [n // 2, n - n // 2])
    order = rng.permutation(n)
    splits.append((x[order], y[order]))
  (x_tr, y_tr), (x_te, y_te) = splits
  x_tr, x_te, mean, std = _per_feature(x_tr, x_te, normalize)
  return Dataset(name, x_tr, y_tr, x_te, y_te, 2, mean, std,
                 f"generated: {name}(seed={seed}, n_train={n_train}, n_test={n_test}, "
                 f"noise={noise}{extra}){_scaled(normalize)}")


def _per_feature(x_tr: np.ndarray, x_te: np.ndarray, normalize: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Vector data standardised per feature with the train statistics (``standard``,
  ``per_feature``) or kept (``none``): ``(x_train, x_test, mean, std)``, all float32."""
  shape = x_tr.shape[1:]
  if normalize == "none":
    mean, std = np.zeros(shape), np.ones(shape)
  else:
    mean, std = x_tr.mean(axis=0, dtype=np.float64), x_tr.std(axis=0, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)  # a constant feature (tiny noise-free sets) is only centred
  x_tr, x_te = (((x - mean) / std).astype(np.float32) for x in (x_tr, x_te))
  return x_tr, x_te, mean.astype(np.float32), std.astype(np.float32)


def _check_normalize(normalize: str) -> None:
  if normalize not in NORMALIZATIONS:
    raise ValueError(f"unknown normalize={normalize!r}; accepted: {', '.join(NORMALIZATIONS)}")


def _scaled(normalize: str) -> str:
  """The ``source`` suffix for a normalization other than the default."""
  return "" if normalize == "standard" else f"; normalize={normalize}"


def moons(seed: int = 0, n_train: int = 400, n_test: int = 100, noise: float = 0.2,
          normalize: str = "standard") -> Dataset:
  """Two interleaving half circles, as ``sklearn.datasets.make_moons``.

  Class 0 is ``(cos t, sin t)`` and class 1 ``(1 - cos t, 1 - sin t - 0.5)``, ``t`` evenly spaced on
  ``[0, pi]``, plus N(0, noise^2) per coordinate. Each split has ``n // 2`` examples of class 0 and
  ``n - n // 2`` of class 1, shuffled; train and test come from independent streams of ``seed``.

  Args:
    seed: an int >= 0; the same seed gives identical arrays.
    n_train: train examples, >= 2. n_test: test examples, >= 1.
    noise: standard deviation of the Gaussian noise, >= 0.
    normalize: ``standard`` or ``per_feature`` (the same here: per feature, train statistics), or
      ``none`` (the raw coordinates).

  Returns:
    A :class:`Dataset` with x float32 ``(N, 2)``, y int32 ``(N,)`` in {0, 1}, ``num_classes=2``,
    standardised per feature with the train mean and std (float32 ``(2,)``) unless ``none``.

  Raises:
    ValueError: a negative seed, too few examples, a negative noise, or ``normalize`` not one of
      ``standard``, ``per_feature``, ``none``.

  >>> ds = moons(seed=0)
  >>> ds.x_train.shape, ds.x_test.dtype, int(ds.y_train.sum())
  ((400, 2), dtype('float32'), 200)
  """
  def make(n0: int, n1: int) -> np.ndarray:
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    return np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                           np.stack([1 - np.cos(t1), 1 - np.sin(t1) - 0.5], 1)])
  return _toy("moons", seed, n_train, n_test, noise, make, normalize)


def circles(seed: int = 0, n_train: int = 400, n_test: int = 100, noise: float = 0.1,
            factor: float = 0.5, normalize: str = "standard") -> Dataset:
  """A circle of radius 1 (class 0) around one of radius ``factor`` (class 1), as
  ``sklearn.datasets.make_circles``: angles evenly spaced on ``[0, 2 pi)``, then N(0, noise^2) per
  coordinate; class balance, shuffling, streams and standardisation as in :func:`moons`.

  Args:
    seed, n_train, n_test, noise, normalize: as in :func:`moons`.
    factor: the inner radius, 0 <= factor < 1.

  Returns:
    A :class:`Dataset` with x float32 ``(N, 2)``, y int32 ``(N,)`` in {0, 1}, ``num_classes=2``.

  Raises:
    ValueError: as in :func:`moons`, or ``factor`` outside ``[0, 1)``.
  """
  if not (isinstance(factor, (int, float, np.number)) and 0 <= factor < 1):
    raise ValueError(f"circles: factor={factor!r} is not accepted; accepted: 0 <= factor < 1")

  def make(n0: int, n1: int) -> np.ndarray:
    t0, t1 = (np.linspace(0, 2 * np.pi, n, endpoint=False) for n in (n0, n1))
    return np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                           factor * np.stack([np.cos(t1), np.sin(t1)], 1)])
  return _toy("circles", seed, n_train, n_test, noise, make, normalize, f", factor={factor}")


def gaussian(dim: int = 784, n: int = 1024, n_test: int = 256, classes: int = 10, seed: int = 0,
             normalize: str = "none") -> Dataset:
  """I.i.d. standard normal inputs with uniformly random labels: signal propagation without data.

  Args:
    dim: input features, >= 1. n: train examples, >= 1. n_test: test examples, >= 1.
    classes: label classes, >= 2 (labels are independent of the inputs: nothing to learn).
    seed: an int >= 0; train and test come from independent streams of it.
    normalize: ``none`` (the default: exactly the N(0, 1) draws), or ``standard``/``per_feature``
      (per feature, train statistics).

  Returns:
    A :class:`Dataset` named ``gaussian(dim=..., n=..., n_test=..., classes=...)``: x float32
    ``(N, dim)``, y int32 ``(N,)``.

  Raises:
    ValueError: a parameter out of range, or ``normalize='unit'``.

  >>> ds = gaussian(dim=3, n=5, n_test=2)
  >>> ds.name, ds.x_train.shape, ds.num_classes
  ('gaussian(dim=3, n=5, n_test=2, classes=10)', (5, 3), 10)
  """
  name = _gaussian_name(dim, n, n_test, classes)
  seed = names.check_int("seed", "gaussian", seed, 0)
  check_normalize("gaussian", normalize)
  splits = []
  for stream, count in zip(np.random.SeedSequence(seed).spawn(2), (n, n_test), strict=True):
    rng = np.random.default_rng(stream)
    splits.append((rng.standard_normal((count, dim), np.float32),
                   rng.integers(0, classes, count).astype(np.int32)))
  (x_tr, y_tr), (x_te, y_te) = splits
  x_tr, x_te, mean, std = _per_feature(x_tr, x_te, normalize)
  return Dataset(name, x_tr, y_tr, x_te, y_te, classes, mean, std,
                 f"generated: {name[:-1]}, seed={seed}){_scaled(normalize)}")


def _gaussian_name(dim: int = 784, n: int = 1024, n_test: int = 256, classes: int = 10) -> str:
  """``gaussian(dim=..., n=..., n_test=..., classes=...)``, the sizes checked."""
  checked = {k: names.check_int(k, "gaussian", v, 2 if k == "classes" else 1)
             for k, v in (("dim", dim), ("n", n), ("n_test", n_test), ("classes", classes))}
  return names.format_call("gaussian", kwargs=checked)


# ----------------------------------------------------------------------------- token tasks

MODULAR_OPS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
}
"""The binary operations of :func:`modular`."""


def _tokens(x: np.ndarray) -> np.ndarray:
  """Token ids as the engine's float32 inputs (exact below ``2^24``)."""
  return x.astype(np.float32)


def _split(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, n_train: int
           ) -> tuple[np.ndarray, ...]:
  order = rng.permutation(len(y))
  tr, te = order[:n_train], order[n_train:]
  return x[tr], y[tr], x[te], y[te]


def _train_count(fraction: float, p: int) -> int:
  """``floor(fraction * p^2)``, robust to the float rounding of ``k / p^2`` (``3 / 97**2 * 97**2``
  is ``2.9999999999999996``)."""
  return math.floor(fraction * p * p + 1e-9)


def _modular_name(p: int = 97, op: str = "add", train_fraction: float = 0.5) -> str:
  """``modular(p=..., op=..., train_fraction=...)``, the parameters checked."""
  p = names.check_int("p", "modular", p, 2)
  if op not in MODULAR_OPS:
    raise ValueError(f"modular: op={op!r}; accepted: {', '.join(MODULAR_OPS)}")
  f = names.check_number("train_fraction", "modular", train_fraction, 0.0, strict=True)
  if not f < 1 or not 1 <= _train_count(f, p) < p * p:
    raise ValueError(f"modular: train_fraction={train_fraction} leaves no train or no test "
                     f"equations of the {p * p}; accepted: 1/p^2 <= train_fraction < 1")
  return names.format_call("modular", kwargs={"p": p, "op": op, "train_fraction": float(f)})


def modular(p: int = 97, op: str = "add", train_fraction: float = 0.5, seed: int = 0,
            normalize: str = "none") -> Dataset:
  r"""Modular arithmetic, the grokking task (Power, Burda, Edwards, Babuschkin & Misra 2022,
  "Grokking: Generalization Beyond Overfitting on Small Algorithmic Datasets"): every equation
  ``a o b = c (mod p)`` for ``a, b`` in ``0..p-1``, as the tokens ``(a, b, p)`` (``p`` is the ``=``
  token; vocabulary ``p + 1``) with label ``c``; a seeded ``train_fraction`` of the ``p^2``
  equations trains, the rest test.

  Args:
    p: the modulus, >= 2 (classes: ``p``). op: one of :data:`MODULAR_OPS`.
    train_fraction: the train share of the ``p^2`` equations, in ``(0, 1)``.
    seed: the split's seed. normalize: ``none`` only (token ids).

  >>> ds = modular(p=5, train_fraction=0.6)
  >>> ds.x_train.shape, ds.x_test.shape, ds.num_classes, vocabulary(ds.name)
  ((15, 3), (10, 3), 5, 6)
  >>> bool(((ds.x_train[:, 0] + ds.x_train[:, 1]) % 5 == ds.y_train).all())
  True
  """
  name = _modular_name(p, op, train_fraction)
  _, _, kw = names.parse(name)
  seed = names.check_int("seed", "modular", seed, 0)
  _token_normalize("modular", normalize)
  a, b = (g.ravel() for g in np.meshgrid(np.arange(p), np.arange(p), indexing="ij"))
  x = np.stack([a, b, np.full_like(a, p)], 1)
  y = MODULAR_OPS[kw["op"]](a, b, p).astype(np.int32)
  x_tr, y_tr, x_te, y_te = _split(np.random.default_rng(seed), x, y,
                                  _train_count(kw["train_fraction"], p))
  return Dataset(name, _tokens(x_tr), y_tr, _tokens(x_te), y_te, p, np.zeros((), np.float32),
                 np.ones((), np.float32), f"generated: {name[:-1]}, seed={seed}); token ids")


def _recall_name(pairs: int = 8, keys: int = 16, values: int = 16, n: int = 8192,
                 n_test: int = 1024) -> str:
  """``recall(pairs=..., keys=..., values=..., n=..., n_test=...)``, the parameters checked."""
  checked = {k: names.check_int(k, "recall", v, lo) for k, v, lo in (
      ("pairs", pairs, 1), ("keys", keys, 1), ("values", values, 2), ("n", n, 1),
      ("n_test", n_test, 1))}
  if checked["pairs"] > checked["keys"]:
    raise ValueError(f"recall: pairs={pairs} > keys={keys}; accepted: pairs <= keys (each key once "
                     "per sequence)")
  return names.format_call("recall", kwargs=checked)


def recall(pairs: int = 8, keys: int = 16, values: int = 16, n: int = 8192, n_test: int = 1024,
           seed: int = 0, normalize: str = "none") -> Dataset:
  r"""Associative recall, a task only attention solves in one step (Ba et al. 2016, "Using Fast
  Weights to Attend to the Recent Past"; the induction-head probe of Olsson et al. 2022): a sequence
  ``k_1 v_1 ... k_K v_K q`` of ``K = pairs`` distinct keys (token ids ``0..keys-1``), each followed
  by a value (``keys .. keys+values-1``, uniform), then a query ``q``, one of the keys; the label is
  the value that followed ``q`` (``0..values-1``). Vocabulary ``keys + values``; length ``2K + 1``.

  Args:
    pairs, keys, values: as above. n, n_test: sequences per split (independent streams of ``seed``).
    seed: the draw's seed. normalize: ``none`` only (token ids).

  >>> ds = recall(pairs=2, keys=4, values=3, n=6, n_test=2)
  >>> ds.x_train.shape, ds.num_classes, vocabulary(ds.name)
  ((6, 5), 3, 7)
  >>> x, y = ds.x_train.astype(int), ds.y_train
  >>> bool(all(x[i, 2 * list(x[i, :-1:2]).index(x[i, -1]) + 1] - 4 == y[i] for i in range(6)))
  True
  """
  name = _recall_name(pairs, keys, values, n, n_test)
  seed = names.check_int("seed", "recall", seed, 0)
  _token_normalize("recall", normalize)
  splits = []
  for stream, count in zip(np.random.SeedSequence(seed).spawn(2), (n, n_test), strict=True):
    rng = np.random.default_rng(stream)
    k = np.argsort(rng.random((count, keys)), axis=1)[:, :pairs]  # distinct keys per sequence
    v = rng.integers(0, values, (count, pairs))
    which = rng.integers(0, pairs, count)
    rows = np.arange(count)
    x = np.concatenate([np.stack([k, keys + v], 2).reshape(count, 2 * pairs),
                        k[rows, which][:, None]], 1)
    splits += [_tokens(x), v[rows, which].astype(np.int32)]
  x_tr, y_tr, x_te, y_te = splits
  return Dataset(name, x_tr, y_tr, x_te, y_te, values, np.zeros((), np.float32),
                 np.ones((), np.float32), f"generated: {name[:-1]}, seed={seed}); token ids")


def _token_normalize(owner: str, normalize: str) -> None:
  if normalize != "none":
    raise ValueError(f"{owner}: normalize={normalize!r}; its inputs are token ids, accepted: none")


def vocabulary(name: str) -> int:
  """How many token ids a token task's inputs use (its model's embedding size).

  >>> vocabulary("modular(p=97)"), vocabulary("recall")
  (98, 32)
  """
  base, _, kwargs = names.parse(canonical(name))
  if base == "modular":
    return kwargs["p"] + 1
  if base == "recall":
    return kwargs["keys"] + kwargs["values"]
  raise ValueError(f"{name} is not a token task; accepted: {', '.join(TOKEN_SETS)}")


# ----------------------------------------------------------------------------- IDX files


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
  """Reads one IDX file of unsigned bytes (gzip-compressed if the name ends in ``.gz``).

  Args:
    path: the file, e.g. ``.../train-images-idx3-ubyte.gz``.

  Returns:
    A uint8 array with the dims from the file's header, e.g. ``(60000, 28, 28)``.

  Raises:
    DataError: no such file, or it cannot be read; a corrupt or truncated gzip stream; a bad header
      (magic, type byte other than 0x08, number of dims outside 1..4); or a payload whose length is
      not the product of the dims. The message names the file.
  """
  path = pathlib.Path(path)
  accepted = "accepted: an IDX file, gzip-compressed with the .gz suffix or raw without it"
  try:
    blob = path.read_bytes()
  except FileNotFoundError:
    raise DataError(f"{path}: no such file; {accepted}") from None
  except OSError as e:
    raise DataError(f"{path}: cannot be read ({e.strerror or e}); {accepted}") from None
  try:
    data = gzip.decompress(blob) if path.suffix == ".gz" else blob
  except (gzip.BadGzipFile, EOFError, zlib.error) as e:
    raise DataError(f"{path}: corrupt gzip stream ({e}); accepted: a gzip-compressed IDX file "
                    "or a raw one without the .gz suffix") from None
  if len(data) < 4 or data[0] or data[1]:
    hint = " (gzip data in a file without the .gz suffix?)" if data[:2] == b"\x1f\x8b" else ""
    raise DataError(f"{path}: header {data[:4].hex()} does not start with two zero bytes{hint}; "
                    "accepted: an IDX file")
  if data[2] != 0x08:
    raise DataError(f"{path}: data type byte 0x{data[2]:02x} is not supported; accepted: 0x08 "
                    "(unsigned byte, the type MNIST uses)")
  if not 1 <= data[3] <= 4 or len(data) < 4 + 4 * data[3]:
    raise DataError(f"{path}: header has {data[3]} dims and {len(data)} bytes in all; accepted: "
                    "1 to 4 dims, each a big-endian uint32")
  dims = tuple(int(d) for d in np.frombuffer(data, ">u4", data[3], offset=4))
  payload = len(data) - 4 - 4 * len(dims)
  if payload != math.prod(dims):
    raise DataError(f"{path}: payload has {payload} bytes, expected {math.prod(dims)} for dims "
                    f"{dims} (a truncated or padded file?); accepted: an IDX file")
  return np.frombuffer(data, np.uint8, offset=4 + 4 * len(dims)).reshape(dims).copy()


def identify(y_train: np.ndarray, y_test: np.ndarray, *, pixel_mean: float | None = None) -> str | None:
  """Names the published image set whose files these are, from the label counts per class.

  The fingerprint (:data:`FINGERPRINTS`) is the number of labels of each class 0..9 in the train and
  in the test split, exact for the published files whatever the order of the examples, and, when
  ``pixel_mean`` is given, the train pixel mean within :data:`PIXEL_MEAN_TOLERANCE`. Anything else
  is no published set: a subset, relabelled or custom files, a mix of two sets, or another balanced
  60000/10000 set (Kuzushiji-MNIST, told from Fashion-MNIST by its pixel mean). The loaders accept
  such files unverified (``Dataset.source`` says so); they refuse files identified as the other set.

  Args:
    y_train, y_test: integer labels of shape ``(N,)``.
    pixel_mean: the mean of the train pixels on the 0..255 scale (optional).

  Returns:
    ``"mnist"``, ``"fashion_mnist"`` or None.

  >>> identify(np.repeat(np.arange(10), 6000), np.repeat(np.arange(10), 1000))
  'fashion_mnist'
  >>> identify(np.repeat(np.arange(10), 6000), np.repeat(np.arange(10), 1000), pixel_mean=48.9) is None
  True
  >>> identify(np.arange(40) % 10, np.arange(20) % 10) is None
  True
  """
  def counts(y: np.ndarray) -> dict[Any, int]:
    values, n = np.unique(np.asarray(y), return_counts=True)
    return dict(zip(values.tolist(), n.tolist(), strict=True))

  train, test = counts(y_train), counts(y_test)
  for name, fp in FINGERPRINTS.items():
    if (train == dict(enumerate(fp.train_counts)) and test == dict(enumerate(fp.test_counts))
        and (pixel_mean is None or abs(pixel_mean - fp.pixel_mean) <= PIXEL_MEAN_TOLERANCE)):
      return name
  return None


def _check_split(images: np.ndarray, labels: np.ndarray, where: tuple[Any, Any]) -> None:
  if images.ndim != 3 or images.shape[1:] != (28, 28) or not len(images):
    raise DataError(f"{where[0]}: images have dims {images.shape}; accepted: (N, 28, 28), N >= 1")
  if labels.ndim != 1 or len(labels) != len(images):
    raise DataError(f"{where[1]}: labels have dims {labels.shape}; accepted: ({len(images)},), "
                    f"one label per image of {where[0]}")
  bad = labels[(labels < 0) | (labels >= 10)]
  if bad.size:
    raise DataError(f"{where[1]}: label {bad[0]} is out of range; accepted: 0 to 9")


def _expected() -> str:
  return ", ".join(f"{f}.gz (or {f})" for f in IDX_FILES)


def _find_idx(name: str, folder: pathlib.Path, origin: str) -> list[pathlib.Path]:
  if not folder.is_dir():
    raise DataError(f"{name}: the data folder {folder} (from {origin}) does not exist or is not a "
                    f"folder; accepted: a folder holding {_expected()}, directly or in its {name}/ "
                    f"subfolder ({_WHERE[name]}; or use no folder and pip install "
                    '"jaxinit[tfds]")')
  base = folder / name if (folder / name).is_dir() else folder
  found = {f: next((p for p in (base / f"{f}.gz", base / f) if p.is_file()), None) for f in IDX_FILES}
  missing = [f"{f}.gz (or {f})" for f, p in found.items() if p is None]
  if missing:
    raise DataError(
        f"{name}: {base} (from {origin}) lacks {', '.join(missing)}; accepted: the four IDX files, "
        f"gzip or raw, in {folder / name} or {folder} ({_WHERE[name]}; or use no "
        f'folder and pip install "jaxinit[tfds]")')
  return list(found.values())


def _verify(name: str, y_tr: np.ndarray, y_te: np.ndarray, pixel_mean: float, where: str,
            origin: str) -> str:
  """The ``source`` suffix: ``"verified: <name>"`` or ``"unverified: ..."``; refuses the other set."""
  found = identify(y_tr, y_te, pixel_mean=pixel_mean)
  if found is not None and found != name:
    raise DataError(f"{where} holds {_TITLE[found]} (its label counts per class and train pixel mean "
                    f"match the published {_TITLE[found]} files), not {_TITLE[name]}; point {origin} "
                    f"at the {_TITLE[name]} files or use --data {found}")
  return f"verified: {name}" if found else f"unverified: not the published {_TITLE[name]} files"


def _cut(full: Dataset, name: str, n_train: int | None = None, n_test: int | None = None) -> Dataset:
  """The first ``n_train`` train and ``n_test`` evaluation examples of ``full`` (None: all), as
  ``name``; the statistics ``full`` was normalized with are kept."""
  if n_train is None and n_test is None:
    return dataclasses.replace(full, name=name)
  for what, n, have in (("n_train", n_train, len(full.y_train)), ("n_test", n_test, len(full.y_test))):
    if n is not None and n > have:
      raise ValueError(f"{name}: {what}={n} is more than the {have} examples of the split; "
                       f"accepted: 1..{have}")
  cut = {"x_train": full.x_train[:n_train], "y_train": full.y_train[:n_train],
         "x_test": full.x_test[:n_test], "y_test": full.y_test[:n_test]}
  sizes = ", ".join(f"the first {n} {split} examples" for n, split in ((n_train, "train"),
                                                                       (n_test, "test")) if n)
  return dataclasses.replace(full, name=name, **cut, source=f"{full.source}; {sizes}")


def _image_set(name: str, data_dir: str | os.PathLike[str] | None, normalize: str,
               n_train: int | None = None, n_test: int | None = None) -> Dataset:
  """The image set, normalized with the whole train split's statistics, then cut to its first
  ``n_train`` train and ``n_test`` test examples (None: all)."""
  return _cut(_full_image_set(name, data_dir, normalize), _image_name(name, n_train, n_test),
              n_train, n_test)


def _image_name(base: str, n_train: int | None = None, n_test: int | None = None) -> str:
  kwargs = {k: names.check_int(k, base, v, 1) for k, v in (("n_train", n_train), ("n_test", n_test))
            if v is not None}
  return names.format_call(base, kwargs=kwargs)


def _full_image_set(name: str, data_dir: str | os.PathLike[str] | None, normalize: str) -> Dataset:
  _check_normalize(normalize)
  folder, origin = data_dir, "--data-dir (data_dir)"
  if folder is None:
    folder, origin = os.environ.get(ENV_VAR) or None, f"${ENV_VAR}"
  if folder is not None:
    paths = _find_idx(name, pathlib.Path(folder), origin)
    x_tr, y_tr, x_te, y_te = (read_idx(p) for p in paths)
    _check_split(x_tr, y_tr, paths[:2])
    _check_split(x_te, y_te, paths[2:])
    where = str(paths[0].parent.absolute())
  else:
    try:
      what = f"{name} (no IDX folder: --data-dir, data_dir or ${ENV_VAR})"
      info = _tfds_info(name, None, what, "$TFDS_DATA_DIR")
      (x_tr, y_tr), (x_te, y_te) = (_tfds_read(info, split, what, "$TFDS_DATA_DIR")
                                    for split in ("train", "test"))
    except DataError as e:
      raise DataError(f"{e}; or a folder holding {_expected()} ({_WHERE[name]}) as --data-dir "
                      f"(data_dir) or ${ENV_VAR}") from None
    x_tr, x_te = x_tr[..., 0], x_te[..., 0]  # (N, 28, 28, 1) -> (N, 28, 28), as the IDX files
    for split, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
      _check_split(x, y, (f"tensorflow_datasets {name} {split}",) * 2)
    where, origin = info.describe(), "tensorflow_datasets' data_dir ($TFDS_DATA_DIR)"
  mean = _pixel_histogram(x_tr) @ np.arange(256) / (255 * x_tr.size)
  verified = _verify(name, y_tr, y_te, 255 * mean, where, origin)
  return _pixels(name, x_tr[..., None], y_tr, x_te[..., None], y_te, 10, normalize,
                 f"{where}; {verified}")


def _pixel_histogram(x: np.ndarray) -> np.ndarray:
  """How many pixels of ``x`` (uint8) take each value 0..255: ``(256,)`` int64."""
  return np.bincount(x.ravel(), minlength=256)


def _pixels(name: str, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray,
            classes: int, normalize: str, source: str) -> Dataset:
  """uint8 images ``(N, H, W, C)`` as float32 inputs, scaled as ``normalize`` says with the train
  split's statistics (``standard``: one scalar mean and std over every train pixel, exact from the
  pixel-value histogram; ``per_feature``: each pixel's and channel's), labels as int32."""
  y_tr, y_te = y_tr.astype(np.int32), y_te.astype(np.int32)
  if normalize == "per_feature":
    x_tr, x_te, mean_f, std_f = _per_feature(x_tr / 255, x_te / 255, normalize)
    return Dataset(name, x_tr, y_tr, x_te, y_te, classes, mean_f, std_f,
                   f"{source}{_scaled(normalize)}")
  counts, v = _pixel_histogram(x_tr), np.arange(256) / 255
  mean = counts @ v / x_tr.size
  std = math.sqrt(counts @ (v - mean) ** 2 / x_tr.size) or 1.0  # 1: a constant image set
  if normalize != "standard":  # pixels / 255 (unit) or raw 0..255 (none): raw = x * std
    mean, std = 0.0, {"unit": 1.0, "none": 1 / 255}[normalize]
  scale, shift = np.float32(1 / (255 * std)), np.float32(-mean / std)
  x_tr, x_te = (np.add(np.multiply(x, scale, dtype=np.float32), shift) for x in (x_tr, x_te))
  return Dataset(name, x_tr, y_tr, x_te, y_te, classes, np.full((1, 1, 1), mean, np.float32),
                 np.full((1, 1, 1), std, np.float32), f"{source}{_scaled(normalize)}")


def mnist(data_dir: str | os.PathLike[str] | None = None, normalize: str = "standard",
          n_train: int | None = None, n_test: int | None = None) -> Dataset:
  """MNIST digits: 60000 train and 10000 test images, or the first ``n_train`` and ``n_test``.

  Args:
    data_dir: folder holding the IDX files (``train-images-idx3-ubyte[.gz]``, ...) directly or in
      its ``mnist/`` subfolder; default ``$JAXINIT_DATA_DIR``; with neither, ``tensorflow_datasets``
      (``tfds.data_source`` in ``$TFDS_DATA_DIR``, as :func:`tfds_image_set`).
    normalize: ``standard`` (the scalar train mean and std), ``per_feature`` (each pixel's train
      mean and std; a pixel that is constant in the train split is only centred), ``unit``
      (pixels / 255) or ``none`` (0..255). ``mean``/``std`` are on the [0, 1] scale.
    n_train, n_test: keep the first this many examples of each split (None: all), normalized as
      the whole set is; the name becomes e.g. ``mnist(n_train=8192)`` (``load("mnist(n_train=
      8192)")`` gives it).

  Returns:
    A :class:`Dataset`: x float32 ``(N, 28, 28, 1)``, by default pixels / 255 standardised with the
    scalar train mean and std (about 0.1307 and 0.3081, float32 ``(1, 1, 1)``); y int32 ``(N,)``;
    ``num_classes=10``; ``source`` the folder and whether the files are the published MNIST files
    (:func:`identify`; other files, e.g. a subset, are accepted unverified).

  Raises:
    DataError: the folder or a file is missing; no folder and no ``tensorflow_datasets``; a
      malformed file (see :func:`read_idx`) or mismatched images and labels; or the files are the
      published Fashion-MNIST files.
  """
  return _image_set("mnist", data_dir, normalize, n_train, n_test)


def fashion_mnist(data_dir: str | os.PathLike[str] | None = None, normalize: str = "standard",
                  n_train: int | None = None, n_test: int | None = None) -> Dataset:
  """Fashion-MNIST (Zalando): as :func:`mnist`, with the subfolder ``fashion_mnist/``.

  Raises:
    DataError: as :func:`mnist`, or the files are the published MNIST files.
  """
  return _image_set("fashion_mnist", data_dir, normalize, n_train, n_test)


# ----------------------------------------------------------------------------- tensorflow-datasets


class TfdsInfo(NamedTuple):
  """What a tensorflow-datasets image classification set is, from its builder's info (no examples
  read): ``name`` as tfds takes it (``cifar10``, ``name/config:1.2.3``), its ``version``, the
  image and label feature names, one image's ``shape`` ``(H, W, C)``, the number of ``classes``,
  the examples per split where the files are prepared (else empty), and the ``data_dir`` tfds
  reads (None: its default, ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``)."""

  name: str
  version: str
  image: str
  label: str
  shape: tuple[int, int, int]
  classes: int
  sizes: dict[str, int]
  data_dir: str | None

  def describe(self) -> str:
    where = self.data_dir or "its default data_dir"
    return f"tensorflow_datasets {self.name} {self.version} in {where}"


@contextlib.contextmanager
def _tfds_errors(what: str, name: str, dirs: str = _TFDS_DIRS) -> Iterator[Any]:
  """Yields the ``tensorflow_datasets`` module; any error of the tfds stack inside (an import of
  it or of one of its dependencies, an unknown dataset, missing or unreadable files, a failed
  download) becomes one :class:`DataError` line naming ``what`` failed and what is accepted (the
  prepared files in ``dirs``, tfds installed and whole). absl warnings are kept off stderr
  meanwhile (the error says what went wrong)."""
  install = 'pip install "jaxinit[tfds]" (tensorflow-datasets; TensorFlow is not needed)'
  absl = logging.getLogger("absl")
  level = absl.level
  absl.setLevel(logging.ERROR)
  try:
    try:
      tfds = importlib.import_module("tensorflow_datasets")
    except ImportError as e:
      if e.name == "tensorflow_datasets":
        raise DataError(f"{what}: tensorflow_datasets is not installed; accepted: {install}") from None
      raise DataError(f"{what}: tensorflow_datasets cannot be imported ({_one_line(e)}); accepted: "
                      f"{_missing(e)}{install}") from None
    yield tfds
  except DataError:
    raise
  except Exception as e:  # whatever the tfds stack raises: one line, not a traceback
    if type(e).__name__ == "DatasetNotFoundError":
      raise DataError(f"{what}: tensorflow_datasets has no dataset {name!r}; accepted: a name of its "
                      "catalog (tfds.list_builders()), e.g. tfds:cifar10, tfds:svhn_cropped, "
                      "tfds:fashion_mnist") from None
    if isinstance(e, ImportError):
      prepare = _TFDS_PREPARE.format(name=name, dirs=dirs)
      raise DataError(f"{what}: tensorflow_datasets failed to import a module it needs here "
                      f"({_one_line(e)}; some only to prepare files); accepted: {prepare}, or "
                      f"{_missing(e)}{install}") from None
    raise DataError(f"{what}: tensorflow_datasets failed ({_one_line(e)}); accepted: "
                    f"{_TFDS_PREPARE.format(name=name, dirs=dirs)}") from None
  finally:
    absl.setLevel(level)


def _missing(e: ImportError) -> str:
  """``pip install <the missing module>, or `` where the error names it."""
  found = e.name or next(iter(re.findall(r"No module named '([\w.]+)'", str(e))), None)
  return f"pip install {found.partition('.')[0]}, or " if found else ""


def _one_line(e: BaseException) -> str:
  """``Type: first line of the message``."""
  text = str(e).strip().splitlines()
  return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _tfds_info(name: str, data_dir: str | os.PathLike[str] | None, what: str | None = None,
               dirs: str = _TFDS_DIRS) -> TfdsInfo:
  """The builder info of tfds set ``name`` (nothing downloaded, no example read).

  Raises:
    DataError: tfds is missing or broken, the set is unknown, or it is no image classification
      set of fixed-size images (an ``Image`` feature and a ``ClassLabel`` label).
  """
  what = what or f"{TFDS_PREFIX}{name}"
  data_dir = None if data_dir is None else os.fspath(data_dir)
  with _tfds_errors(what, name, dirs) as tfds:
    builder = tfds.builder(name, data_dir=data_dir)
    info = builder.info
    features = dict(info.features.items()) if hasattr(info.features, "items") else {}
    sizes = {split: int(s.num_examples) for split, s in info.splits.items()}
    image_type, label_type = tfds.features.Image, tfds.features.ClassLabel
  keys = info.supervised_keys if isinstance(info.supervised_keys, tuple) else ()
  if len(keys) != 2 or not all(isinstance(k, str) and k in features for k in keys):
    found = [k for k, f in features.items() if isinstance(f, image_type)][:1]
    keys = (*found, *[k for k, f in features.items() if isinstance(f, label_type)][:1])
  accepted = ("accepted: an image classification set, an Image feature of fixed shape (H, W, C) and a "
              "ClassLabel label, e.g. tfds:cifar10")
  if (len(keys) != 2 or not isinstance(features[keys[0]], image_type)
      or not isinstance(features[keys[1]], label_type)):
    raise DataError(f"{what}: its features {sorted(features)} hold no image and class label; {accepted}")
  shape = tuple(features[keys[0]].shape)
  if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
    raise DataError(f"{what}: its images have shape {shape} (of varying size); {accepted}")
  return TfdsInfo(name, str(info.version), keys[0], keys[1], shape, int(features[keys[1]].num_classes),
                  sizes, data_dir)


def _tfds_read(info: TfdsInfo, split: str, what: str | None = None, dirs: str = _TFDS_DIRS
               ) -> tuple[np.ndarray, np.ndarray]:
  """One split through ``tfds.data_source`` (random access over array_record files; no
  TensorFlow), downloading and preparing it where tfds can: uint8 images ``(N, H, W, C)`` and int64
  labels ``(N,)``.

  Raises:
    DataError: as :func:`_tfds_errors`.
  """
  what = (f"{what or TFDS_PREFIX + info.name}: its {split} split in "
          f"{info.data_dir or 'the default data_dir'}")
  with _tfds_errors(what, info.name, dirs) as tfds:
    source = tfds.data_source(info.name, split=split, data_dir=info.data_dir)
    x, y = np.empty((len(source), *info.shape), np.uint8), np.empty(len(source), np.int64)
    for i in range(len(source)):
      example = source[i]
      x[i], y[i] = example[info.image], example[info.label]
  if not len(y):
    raise DataError(f"{what} is empty; accepted: a split with examples")
  bad = y[(y < 0) | (y >= info.classes)]
  if bad.size:
    raise DataError(f"{what}: label {bad[0]} is out of range; accepted: 0 to {info.classes - 1}")
  return x, y


def fingerprint(*arrays: np.ndarray) -> str:
  """A short hash of what was read, to compare two loads: SHA-256 (first 16 hex digits) of each
  array's dtype, shape and bytes, in order (labels and uint8 pixels, before any normalization).

  >>> fingerprint(np.arange(3)) == fingerprint(np.arange(3)) != fingerprint(np.arange(1, 4))
  True
  """
  digest = hashlib.sha256()
  for a in arrays:
    a = np.ascontiguousarray(a)
    digest.update(f"{a.dtype.str}{a.shape}".encode())
    digest.update(a.data)
  return digest.hexdigest()[:16]


def tfds_image_set(name: str, data_dir: str | os.PathLike[str] | None = None,
                   normalize: str = "standard", test: bool = True) -> Dataset:
  """An image classification set of tensorflow-datasets, read through ``tfds.data_source``.

  Random access over the prepared array_record files, so TensorFlow is not needed; where the files
  are not prepared, tfds downloads and prepares them (network needed). The class count and image
  shape ``(H, W, C)`` come from the builder's info; the pixels are scaled as the IDX image sets'
  (:func:`mnist`: ``standard`` is one scalar mean and std over every train pixel and channel).

  Args:
    name: a tfds name (``cifar10``, ``svhn_cropped``, ``mnist``; ``name/config`` and ``:version``
      as tfds takes them) of a set with an ``Image`` feature of fixed shape and a ``ClassLabel``.
    data_dir: where tfds keeps its files; None: its own default (``$TFDS_DATA_DIR``, else
      ``~/tensorflow_datasets``).
    normalize: as :func:`mnist`.
    test: read the test split; False leaves it empty (unread), for a validation split held out of
      train (:func:`load` with ``validation=``).

  Returns:
    A :class:`Dataset` named ``tfds:<name>``: x float32 ``(N, H, W, C)``, y int32; ``source`` names
    tfds, the dataset's version, the data_dir, each split read with its size, and the
    :func:`fingerprint` of the labels and pixels read.

  Raises:
    DataError: tfds missing or broken (an import of it or of a dependency), an unknown set, one that
      is no image classification set, missing files that cannot be downloaded, or unreadable ones.
  """
  check_normalize(TFDS_PREFIX + name, normalize)
  info = _tfds_info(name, data_dir)
  x_tr, y_tr = _tfds_read(info, "train")
  if test:
    x_te, y_te = _tfds_read(info, "test")
  else:
    x_te, y_te = np.empty((0, *info.shape), np.uint8), np.empty(0, np.int64)
  splits = f"train[{len(y_tr)}]" + (f", test[{len(y_te)}]" if test else "")
  source = (f"{info.describe()}: {splits}; fingerprint {fingerprint(y_tr, x_tr, y_te, x_te)} "
            "(sha256 of the labels and pixels read)")
  return _pixels(TFDS_PREFIX + name, x_tr, y_tr, x_te, y_te, info.classes, normalize, source)


def _parse(name: str) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
  """:func:`jaxinit.names.parse` for dataset names, ``tfds:NAME(...)`` too: its base is
  ``tfds:NAME``."""
  if not name.startswith(TFDS_PREFIX):
    return names.parse(name)
  body = name[len(TFDS_PREFIX):].strip()
  match = _TFDS_NAME.match(body)
  rest = body[match.end():].strip() if match else body
  if match is None or (rest and not rest.startswith("(")):
    raise ValueError(f"dataset {name!r}: {body!r} is no tfds name; accepted: tfds:NAME with NAME as "
                     "tensorflow-datasets spells it (lower case, e.g. tfds:cifar10, tfds:svhn_cropped"
                     "), optionally (n_train=..., validation=...)")
  _, args, kwargs = names.parse(f"tfds{rest}")
  return TFDS_PREFIX + match.group(), args, kwargs


# ----------------------------------------------------------------------------- registry

LOADERS: dict[str, Callable[..., Dataset]] = {
    "moons": moons, "circles": circles, "gaussian": gaussian, "mnist": mnist,
    "fashion_mnist": fashion_mnist, "modular": modular, "recall": recall}
"""Name -> loader. ``gaussian`` takes its sizes in its name (``gaussian(dim=100, n=512)``); the
others take none. ``tfds:NAME`` goes to :func:`tfds_image_set`."""
ALIASES: dict[str, str] = {"fashion-mnist": "fashion_mnist"}
IMAGE_SETS = ("mnist", "fashion_mnist")
"""The IDX image sets; their names, and ``tfds:NAME``'s, may carry ``n_train``/``n_test`` (the
first examples of a split)."""
TOKEN_SETS = ("modular", "recall")
"""The token tasks: inputs are token ids (as float32), the label the next token."""
_NAMED = {"gaussian": _gaussian_name, "modular": _modular_name, "recall": _recall_name}
"""The generated sets that take their sizes in their name, and how each name is written out."""
_SEEDED = ("moons", "circles", "gaussian", *TOKEN_SETS)
_FAMILIES = {"moons": "toy", "circles": "toy", "gaussian": "vectors", "mnist": "images",
             "fashion_mnist": "images", "modular": "tokens", "recall": "tokens"}
FAMILIES = ("toy", "vectors", "images", "tokens")
"""What a dataset's inputs are: ``toy`` two-class points in the plane (moons, circles), ``vectors``
(``gaussian``, any dimension and number of classes), ``images`` (``(H, W, C)``: the MNISTs'
28 x 28 x 1, a ``tfds:NAME`` set's own), ``tokens`` (sequences of token ids: ``modular``,
``recall``)."""
VALIDATION_STREAM = 2
"""The validation split's permutation draws from ``SeedSequence(seed).spawn(3)[2]``, a stream
independent of those the generated sets draw their examples from (children 0 and 1, or the root)."""


def family(name: str) -> str:
  """The :data:`FAMILIES` member a dataset belongs to.

  >>> family("moons"), family("gaussian(dim=3)"), family("mnist(n_train=512)"), family("tfds:cifar10")
  ('toy', 'vectors', 'images', 'images')
  """
  base = _parse(canonical(name))[0]
  return "images" if base.startswith(TFDS_PREFIX) else _FAMILIES[base]


def num_classes(name: str, data_dir: str | os.PathLike[str] | None = None) -> int:
  """How many classes a dataset's labels have (known from its name, without loading it; a
  ``tfds:NAME`` set's from its builder's info, in ``data_dir`` as :func:`tfds_image_set`).

  >>> num_classes("circles"), num_classes("fashion_mnist"), num_classes("gaussian(classes=3)")
  (2, 10, 3)

  Raises:
    DataError: a ``tfds:NAME`` set whose info cannot be had (:func:`tfds_image_set`).
  """
  base, _, kwargs = _parse(canonical(name))
  if base.startswith(TFDS_PREFIX):
    return _tfds_info(base[len(TFDS_PREFIX):], data_dir).classes
  if base == "gaussian":
    return kwargs["classes"]
  if base in TOKEN_SETS:
    return kwargs["p"] if base == "modular" else kwargs["values"]
  return len(FINGERPRINTS[base].train_counts) if base in IMAGE_SETS else 2  # the toy sets: two


def num_outputs(name: str) -> int:
  """The readout width a network needs for a dataset: one logit (sigmoid) for two classes, else one
  per class (softmax), as :func:`jaxinit.engine.train.check_data` accepts.

  >>> num_outputs("moons"), num_outputs("mnist"), num_outputs("gaussian(classes=2)")
  (1, 10, 1)
  """
  classes = num_classes(name)
  return 1 if classes == 2 else classes


def known() -> list[str]:
  """Returns the canonical dataset names (without aliases), sorted; ``tfds:NAME`` names any
  tensorflow-datasets image classification set besides."""
  return sorted(LOADERS)


def canonical(name: str) -> str:
  """A dataset name's canonical form: aliases resolved, ``gaussian``'s sizes all written out,
  ``validation`` last.

  Every name may end in ``validation=V``: ``V`` train examples, drawn by the data seed, are held
  out of the train split and evaluated on instead of the test split (:func:`load`).

  Raises:
    ValueError: an unknown name (listing the known ones), parameters on a dataset that takes none,
      bad ``gaussian`` parameters, or ``validation`` with ``n_test``.

  >>> canonical("fashion-mnist"), canonical("gaussian(dim=100)")
  ('fashion_mnist', 'gaussian(dim=100, n=1024, n_test=256, classes=10)')
  >>> canonical("mnist(n_train=8192)"), canonical("tfds:cifar10(validation=5000, n_train=1000)")
  ('mnist(n_train=8192)', 'tfds:cifar10(n_train=1000, validation=5000)')
  """
  if not isinstance(name, str):
    raise ValueError(f"unknown dataset {name!r}; accepted: a name, one of {', '.join(known())}, or "
                     "tfds:NAME")
  name = ALIASES.get(name.strip(), name.strip())
  if name.lower().startswith(TFDS_PREFIX):
    name = name.lower()
  try:
    base, args, kwargs = _parse(name)
  except ValueError:
    if name.startswith(TFDS_PREFIX):
      raise
    base, args, kwargs = None, (), {}
  if base not in LOADERS and not (base or "").startswith(TFDS_PREFIX):
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(known())} "
                     f"(aliases: {', '.join(ALIASES)}), or tfds:NAME (a tensorflow-datasets image "
                     "classification set, e.g. tfds:cifar10)")
  validation = kwargs.pop("validation", None)
  if validation is not None:
    validation = names.check_int("validation", name, validation, 1)
    if "n_test" in kwargs and (base in IMAGE_SETS or base.startswith(TFDS_PREFIX)):
      raise ValueError(f"dataset {name!r}: validation= is the evaluation set, so n_test= has "
                       "nothing to cut; accepted: one of them")
  rest = _canonical_without_validation(name, base, args, kwargs)
  if validation is None:
    return rest
  base, args, kwargs = _parse(rest)
  return names.format_call(base, args, {**kwargs, "validation": validation})


def _canonical_without_validation(name: str, base: str, args: tuple[Any, ...],
                                  kwargs: dict[str, Any]) -> str:
  if base in IMAGE_SETS or base.startswith(TFDS_PREFIX):
    if args or not set(kwargs) <= {"n_train", "n_test"}:
      raise ValueError(f"dataset {name!r}: bad parameters; accepted: n_train, n_test, validation "
                       "(ints >= 1)")
    return _image_name(base, **kwargs)
  text = names.format_call(base, args, kwargs)
  if base not in _NAMED:
    if args or kwargs:
      raise ValueError(f"dataset {name!r}: {base} takes no parameters in its name but validation=; "
                       f"accepted: {base!r} or '{base}(validation=100)'")
    return base
  if "seed" in kwargs or "normalize" in kwargs:
    raise ValueError(f"dataset {name!r}: the seed and normalization are not part of the name; "
                     "accepted: --data-seed / --normalize (data_seed=, normalize=)")
  return names.build(text, {base: _NAMED[base]}, {}, "dataset")


def default_normalize(name: str) -> str:
  """The normalization a dataset has by default: ``none`` for ``gaussian`` and the token tasks,
  else ``standard``."""
  return "none" if _parse(canonical(name))[0] in ("gaussian", *TOKEN_SETS) else "standard"


def check_normalize(name: str, normalize: str | None) -> str:
  """``normalize`` for dataset ``name``, None meaning its default (:func:`default_normalize`).

  Raises:
    ValueError: not one of :data:`NORMALIZATIONS`, or ``unit`` for a dataset without pixels.
  """
  if normalize is None:
    return default_normalize(name)
  _check_normalize(normalize)
  base = _parse(canonical(name))[0]
  if base in TOKEN_SETS:
    _token_normalize(base, normalize)
  if normalize == "unit" and family(name) != "images":
    raise ValueError(f"normalize='unit' divides pixels by 255 and {name} has no pixels; accepted: "
                     "standard, per_feature, none")
  return normalize


def validation(name: str) -> int | None:
  """The size of the validation split a dataset name asks for (``validation=``), or None: then
  the test split is the evaluation set.

  >>> validation("tfds:cifar10(validation=5000)"), validation("moons")
  (5000, None)
  """
  return _parse(canonical(name))[2].get("validation")


def evaluated_on(name: str, seed: int = 0) -> str:
  """What a dataset's ``test_*`` metrics are measured on, as a sentence for a table caption.

  >>> evaluated_on("mnist(validation=10000)", seed=3)
  'test_* is a validation split: 10000 train examples held out by data seed 3 (the test split unused).'
  >>> evaluated_on("mnist")
  'test_* is the test split.'
  """
  held = validation(name)
  return "test_* is the test split." if held is None else f"{_held_out(held, seed)}."


def _held_out(count: int, seed: int) -> str:
  return (f"test_* is a validation split: {count} train examples held out by data seed {seed} (the "
          "test split unused)")


def hold_out(ds: Dataset, count: int, seed: int = 0) -> Dataset:
  """Holds ``count`` train examples out as the evaluation split, in place of the test split
  (init2winit's validation split: taken from train, seeded).

  The examples are a uniformly random subset of the train indices, drawn by
  ``default_rng(SeedSequence(seed).spawn(3)[2])`` (:data:`VALIDATION_STREAM`): the same seed gives
  the same split bit for bit. Both parts keep the train order. The inputs stay as ``ds`` scaled them
  (with the whole train split's statistics, so an example is the same array in either part).

  Args:
    ds: a :class:`Dataset`. count: held-out examples, ``1 <= count < len(ds.y_train)``.
    seed: an int >= 0.

  Returns:
    ``ds`` with ``x_train``/``y_train`` the rest of train and ``x_test``/``y_test`` the held-out
    examples; its name ends in ``validation=count`` and its ``source`` says what ``test_*`` is.

  Raises:
    ValueError: ``count`` or ``seed`` out of range.

  >>> ds = hold_out(moons(n_train=10), 3, seed=0)
  >>> ds.name, len(ds.y_train), len(ds.y_test)
  ('moons(validation=3)', 7, 3)
  """
  have = len(ds.y_train)
  if not 1 <= names.check_int("validation", ds.name, count, 1) < have:
    raise ValueError(f"{ds.name}: validation={count} leaves no train examples of the {have}; "
                     f"accepted: 1 <= validation < {have}")
  seed = names.check_int("seed", ds.name, seed, 0)
  stream = np.random.SeedSequence(seed).spawn(VALIDATION_STREAM + 1)[VALIDATION_STREAM]
  held = np.zeros(have, bool)
  held[np.random.default_rng(stream).permutation(have)[:count]] = True
  base, args, kwargs = _parse(ds.name)
  return dataclasses.replace(
      ds, name=names.format_call(base, args, {**kwargs, "validation": count}),
      x_train=ds.x_train[~held], y_train=ds.y_train[~held], x_test=ds.x_train[held],
      y_test=ds.y_train[held], source=f"{ds.source}; {_held_out(count, seed)}")


def nbytes(name: str, data_dir: str | os.PathLike[str] | None = None) -> int:
  """The host memory a dataset takes once loaded (float32 inputs, int32 labels, and one float32
  copy of the inputs while they are normalized), known from its name without building it: a
  ``tfds:NAME`` set's image shape and split sizes from its builder's info in ``data_dir`` (the
  split sizes are known once its files are prepared; before, only those its name gives count).

  >>> nbytes("gaussian(dim=100, n=1000, n_test=100)")
  884400

  Raises:
    DataError: a ``tfds:NAME`` set whose info cannot be had (:func:`tfds_image_set`).
  """
  base, _, kwargs = _parse(canonical(name))
  if base == "gaussian":
    examples, features = kwargs["n"] + kwargs["n_test"], kwargs["dim"]
  elif base == "modular":
    examples, features = kwargs["p"] ** 2, 3
  elif base == "recall":
    examples, features = kwargs["n"] + kwargs["n_test"], 2 * kwargs["pairs"] + 1
  elif base in IMAGE_SETS or base.startswith(TFDS_PREFIX):  # the split sizes unless the name cuts
    if base in IMAGE_SETS:
      full = FINGERPRINTS[base]
      sizes, features = {"train": sum(full.train_counts), "test": sum(full.test_counts)}, 28 * 28
    else:
      info = _tfds_info(base[len(TFDS_PREFIX):], data_dir)
      sizes, features = info.sizes, math.prod(info.shape)
    examples = (kwargs.get("n_train", sizes.get("train", 0))
                + kwargs.get("validation", kwargs.get("n_test", sizes.get("test", 0))))
  else:  # a toy set at its loader's default sizes
    sizes = inspect.signature(LOADERS[base]).parameters
    examples, features = sizes["n_train"].default + sizes["n_test"].default, 2
  return examples * (2 * 4 * features + 4)


def load(name: str, *, seed: int = 0, data_dir: str | os.PathLike[str] | None = None,
         normalize: str | None = None) -> Dataset:
  """Loads a dataset by name with its default sizes.

  Args:
    name: ``moons``, ``circles``, ``gaussian(dim=784, n=1024, n_test=256, classes=10)``,
      ``mnist``, ``fashion_mnist`` (alias ``fashion-mnist``), ``tfds:NAME`` (any
      tensorflow-datasets image classification set: :func:`tfds_image_set`), the token tasks; any
      of them ending in ``validation=V`` (``mnist(validation=10000)``,
      ``tfds:cifar10(validation=5000)``, ``moons(validation=100)``): ``V`` train examples held
      out by ``seed`` are the evaluation set (``x_test``/``y_test``), the test split unused
      (:func:`hold_out`); an image set's ``n_train`` then cuts the rest of train.
    seed: the generated sets' seed and the validation split's; the image sets ignore it otherwise.
    data_dir: the IDX image sets' folder (see :func:`mnist`), or where tfds keeps its files for
      ``tfds:NAME``; the others ignore it.
    normalize: one of :data:`NORMALIZATIONS`; None: the dataset's default
      (:func:`default_normalize`).

  Returns:
    The :class:`Dataset`, named ``canonical(name)``.

  Raises:
    ValueError: an unknown name (the message lists the known ones), or as the loader raises.
    DataError: (a ValueError) missing, unreadable, corrupt or mismatched data, as :func:`mnist`;
      tfds missing, broken or without the set, as :func:`tfds_image_set`.

  >>> load("circles", seed=1).num_classes
  2
  >>> ds = load("moons(validation=100)", seed=1)
  >>> len(ds.y_train), len(ds.y_test)
  (300, 100)
  """
  name = canonical(name)
  base, _, kwargs = _parse(name)
  normalize = check_normalize(name, normalize)
  held = kwargs.pop("validation", None)
  if base in _SEEDED:
    ds = LOADERS[base](**kwargs, seed=seed, normalize=normalize)
    return ds if held is None else hold_out(ds, held, seed)
  cut = {k: kwargs.pop(k) for k in ("n_train", "n_test") if k in kwargs}
  if base.startswith(TFDS_PREFIX):
    ds = tfds_image_set(base[len(TFDS_PREFIX):], data_dir, normalize, test=held is None)
  else:
    ds = _full_image_set(base, data_dir, normalize)
  if held is not None:
    ds = hold_out(ds, held, seed)
  return _cut(ds, name, **cut)
