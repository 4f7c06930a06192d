"""Tests for jaxinit.data: toy sets (balance, determinism, geometry), MNIST against the facts in its
README, Fashion-MNIST from IDX files written here, the published-set check (real MNIST files are
refused as Fashion-MNIST), and every error a loader reports (each a DataError naming what is accepted).

The real-MNIST tests read ``$JAXINIT_DATA_DIR/mnist`` and skip where it is absent, e.g.
``JAXINIT_DATA_DIR=../shared/datasets python -m pytest tests/test_data.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pathlib
import sys

import numpy as np
import pytest

from jaxinit import data

TOYS = {"moons": data.moons, "circles": data.circles}


def raw(x: np.ndarray, ds: data.Dataset) -> np.ndarray:
  """Un-standardised inputs, in float64."""
  return x.astype(np.float64) * ds.std + ds.mean


def sorted_rows(a: np.ndarray) -> np.ndarray:
  return a[np.lexsort(a.T[::-1])]


def ideal_moons(n: int) -> tuple[np.ndarray, np.ndarray]:
  """sklearn.datasets.make_moons(n, noise=0, shuffle=False) written out from its definition."""
  t0, t1 = np.linspace(0, np.pi, n // 2), np.linspace(0, np.pi, n - n // 2)
  return (np.stack([np.cos(t0), np.sin(t0)], 1), np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1))


def ideal_circles(n: int, factor: float) -> tuple[np.ndarray, np.ndarray]:
  t0 = 2 * np.pi * np.arange(n // 2) / (n // 2)
  t1 = 2 * np.pi * np.arange(n - n // 2) / (n - n // 2)
  return (np.stack([np.cos(t0), np.sin(t0)], 1), factor * np.stack([np.cos(t1), np.sin(t1)], 1))


# ----------------------------------------------------------------------------- toy sets


@pytest.mark.parametrize("name", TOYS)
def test_toy_shapes_dtypes_and_exact_balance(name):
  ds = TOYS[name](seed=0)
  assert ds.name == name and ds.num_classes == 2 and ds.feature_shape == (2,)
  assert ds.x_train.shape == (400, 2) and ds.x_test.shape == (100, 2)
  assert ds.x_train.dtype == ds.x_test.dtype == np.float32
  assert ds.y_train.dtype == ds.y_test.dtype == np.int32
  assert ds.mean.shape == ds.std.shape == (2,) and ds.mean.dtype == ds.std.dtype == np.float32
  assert np.bincount(ds.y_train).tolist() == [200, 200]
  assert np.bincount(ds.y_test).tolist() == [50, 50]
  odd = TOYS[name](seed=0, n_train=7, n_test=5)
  assert np.bincount(odd.y_train).tolist() == [3, 4] and np.bincount(odd.y_test).tolist() == [2, 3]


@pytest.mark.parametrize("name", TOYS)
def test_toy_is_deterministic_and_seeds_and_splits_differ(name):
  a, b, c = TOYS[name](seed=3), TOYS[name](seed=3), TOYS[name](seed=4)
  for field in ("x_train", "y_train", "x_test", "y_test", "mean", "std"):
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  assert not np.array_equal(a.x_train, c.x_train) and not np.array_equal(a.x_test, c.x_test)
  same_size = TOYS[name](seed=3, n_train=50, n_test=50)  # independent streams: splits differ
  assert not np.allclose(np.sort(same_size.x_train, 0), np.sort(same_size.x_test, 0))
  # Shuffled within each split: labels are not in blocks.
  assert np.count_nonzero(np.diff(a.y_train)) > 10 and np.count_nonzero(np.diff(a.y_test)) > 10


@pytest.mark.parametrize("name", TOYS)
def test_toy_train_is_standardised_and_test_uses_train_statistics(name):
  ds = TOYS[name](seed=1)
  np.testing.assert_allclose(ds.x_train.astype(np.float64).mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(ds.x_train.astype(np.float64).std(0), 1, atol=1e-5)
  np.testing.assert_allclose(raw(ds.x_train, ds).mean(0), ds.mean, atol=1e-6)
  assert not np.allclose(ds.x_test.mean(0), 0, atol=1e-5)  # not re-standardised on its own


def test_moons_without_noise_are_exactly_the_two_half_circles():
  ds = data.moons(seed=5, n_train=40, n_test=11, noise=0.0)
  for x, y, n in ((ds.x_train, ds.y_train, 40), (ds.x_test, ds.y_test, 11)):
    points = raw(x, ds)
    outer, inner = points[y == 0], points[y == 1]
    np.testing.assert_allclose(np.hypot(*outer.T), 1, atol=1e-6)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1, atol=1e-6)
    assert outer[:, 1].min() > -1e-6 and inner[:, 1].max() < 0.5 + 1e-6
    for got, want in zip((outer, inner), ideal_moons(n), strict=True):
      np.testing.assert_allclose(sorted_rows(got), sorted_rows(want), atol=1e-6)


def test_circles_without_noise_lie_on_radius_one_and_factor():
  ds = data.circles(seed=2, n_train=40, n_test=10, noise=0.0, factor=0.3)
  for x, y, n in ((ds.x_train, ds.y_train, 40), (ds.x_test, ds.y_test, 10)):
    points = raw(x, ds)
    np.testing.assert_allclose(np.hypot(*points[y == 0].T), 1, atol=1e-6)
    np.testing.assert_allclose(np.hypot(*points[y == 1].T), 0.3, atol=1e-6)
    for got, want in zip((points[y == 0], points[y == 1]), ideal_circles(n, 0.3), strict=True):
      np.testing.assert_allclose(sorted_rows(got), sorted_rows(want), atol=1e-6)


def test_noise_has_the_requested_standard_deviation():
  # Radial deviation of the outer circle ~ N(0, noise^2); 2000 points, so +-10% is > 4 std errors.
  ds = data.circles(seed=0, n_train=4000, noise=0.1)
  r = np.hypot(*raw(ds.x_train, ds)[ds.y_train == 0].T)
  assert 0.09 < (r - 1).std() < 0.11 and abs((r - 1).mean()) < 0.01


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"n_train": 1}, {"n_test": 0}, {"noise": -0.1},
                                    {"noise": float("nan")}, {"n_train": 2.5}])
def test_toy_rejects_bad_parameters(kwargs):
  with pytest.raises(ValueError, match=f"{next(iter(kwargs))}=.*accepted"):
    data.moons(**kwargs)


@pytest.mark.parametrize("factor", [1.0, -0.5])
def test_circles_rejects_factor_outside_unit_interval(factor):
  with pytest.raises(ValueError, match=r"factor=.*0 <= factor < 1"):
    data.circles(factor=factor)


def test_subset_takes_leading_examples_and_checks_counts():
  ds = data.moons(seed=0)
  sub = ds.subset(10, 3)
  np.testing.assert_array_equal(sub.x_train, ds.x_train[:10])
  np.testing.assert_array_equal(sub.y_test, ds.y_test[:3])
  assert sub.x_test.shape == (3, 2) and sub.mean is ds.mean and sub.name == "moons"
  assert sub.source == ds.source == "generated: moons(seed=0, n_train=400, n_test=100, noise=0.2)"
  assert data.circles(seed=1, factor=0.3).source.endswith("noise=0.1, factor=0.3)")
  for bad in ((401, 3), (0, 3), (10, 101)):
    with pytest.raises(ValueError, match="1 <= n_train <= 400 and 1 <= n_test <= 100"):
      ds.subset(*bad)


# ----------------------------------------------------------------------------- registry


def test_known_and_load():
  assert data.known() == ["circles", "fashion_mnist", "gaussian", "mnist", "modular", "moons",
                          "recall"]
  np.testing.assert_array_equal(data.load("moons", seed=7).x_train, data.moons(seed=7).x_train)
  np.testing.assert_array_equal(data.load("circles", seed=7).x_test, data.circles(seed=7).x_test)


def test_unknown_name_lists_the_known_ones():
  with pytest.raises(ValueError, match="'cifar10'; known: circles, fashion_mnist, gaussian, mnist, "
                                       "modular, moons, recall"):
    data.load("cifar10")


# ----------------------------------------------------------------------------- real MNIST


def _mnist_dir() -> pathlib.Path:
  folder = os.environ.get(data.ENV_VAR)
  if not folder:
    pytest.skip(f"{data.ENV_VAR} is not set; point it at a folder holding mnist/ with the IDX files")
  path = pathlib.Path(folder) / "mnist"
  if not all((path / f"{f}.gz").is_file() or (path / f).is_file() for f in data.IDX_FILES):
    pytest.skip(f"the MNIST IDX files are not in {path}")
  return path


@pytest.fixture(scope="module")
def mnist_ds() -> data.Dataset:
  _mnist_dir()
  return data.load("mnist")  # through the environment variable


def test_mnist_shapes_and_statistics_match_the_readme(mnist_ds):
  ds = mnist_ds
  assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
  assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32 and ds.num_classes == 10
  assert ds.mean.shape == ds.std.shape == (1, 1, 1)
  np.testing.assert_allclose(ds.mean.item(), 0.13066, atol=1e-5)
  np.testing.assert_allclose(ds.std.item(), 0.30811, atol=1e-5)
  pixel_mean = (ds.x_train.mean(dtype=np.float64) * ds.std.item() + ds.mean.item()) * 255
  np.testing.assert_allclose(pixel_mean, 33.3184, atol=1e-3)
  assert np.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851,
                                              5949]
  assert ds.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
  assert len(ds.y_test) == 10000 and set(np.unique(ds.y_test)) == set(range(10))
  assert ds.source == f"{_mnist_dir().absolute()}; verified: mnist"


def test_mnist_fingerprint_is_the_published_files(mnist_ds):
  fp = data.FINGERPRINTS["mnist"]
  assert np.bincount(mnist_ds.y_train).tolist() == list(fp.train_counts)
  assert np.bincount(mnist_ds.y_test).tolist() == list(fp.test_counts)
  assert abs(mnist_ds.mean.item() * 255 - fp.pixel_mean) < 1e-3
  assert data.identify(mnist_ds.y_train, mnist_ds.y_test, pixel_mean=33.3) == "mnist"
  shuffled = np.random.default_rng(0).permutation(mnist_ds.y_train)  # order does not matter
  assert data.identify(shuffled, mnist_ds.y_test) == "mnist"
  assert data.identify(mnist_ds.y_train[:-1], mnist_ds.y_test) is None  # a subset: unverified
  assert data.identify(mnist_ds.y_train, mnist_ds.y_test, pixel_mean=72.9) is None


def test_mnist_files_are_refused_as_fashion_mnist(monkeypatch):
  folder = _mnist_dir()  # the files directly in $JAXINIT_DATA_DIR, as the sweep was given them
  monkeypatch.setenv(data.ENV_VAR, str(folder))
  with pytest.raises(data.DataError) as e:
    data.load("fashion-mnist")
  assert str(e.value) == (
      f"{folder.absolute()} holds MNIST (its label counts per class and train pixel mean match the "
      "published MNIST files), not Fashion-MNIST; point $JAXINIT_DATA_DIR at the Fashion-MNIST files "
      "or use --data mnist")


def test_mnist_labels_are_the_published_bytes(mnist_ds):
  idx = b"\x00\x00\x08\x01" + (60000).to_bytes(4, "big") + mnist_ds.y_train.astype(np.uint8).tobytes()
  assert hashlib.sha256(idx).hexdigest() == (
      "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5")


def test_mnist_pixels_round_trip_to_the_file(mnist_ds):
  pixels = data.read_idx(_mnist_dir() / "t10k-images-idx3-ubyte.gz")
  assert pixels.shape == (10000, 28, 28) and pixels.dtype == np.uint8
  back = raw(mnist_ds.x_test[..., 0], mnist_ds) * 255
  np.testing.assert_allclose(back, pixels, atol=1e-3)  # test split uses the train statistics


# ----------------------------------------------------------------------------- IDX files written here


def write_idx(path: pathlib.Path, array: np.ndarray, header: bytes | None = None,
              extra: bytes = b"") -> pathlib.Path:
  array = np.asarray(array, np.uint8)
  if header is None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
  blob = header + array.tobytes() + extra
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(gzip.compress(blob) if path.suffix == ".gz" else blob)
  return path


def fake_set(folder: pathlib.Path, gz: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
  """Writes a 20-train / 10-test image set; returns the arrays by file name."""
  rng = np.random.default_rng(seed)
  arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)),
            "train-labels-idx1-ubyte": np.arange(20) % 10,
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (10, 28, 28)),
            "t10k-labels-idx1-ubyte": np.arange(10)[::-1]}
  for name, array in arrays.items():
    write_idx(folder / (name + (".gz" if gz else "")), array)
  return arrays


def check_round_trip(ds: data.Dataset, arrays: dict[str, np.ndarray]) -> None:
  train, test = arrays["train-images-idx3-ubyte"], arrays["t10k-images-idx3-ubyte"]
  assert ds.x_train.shape == (20, 28, 28, 1) and ds.x_test.shape == (10, 28, 28, 1)
  assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
  np.testing.assert_allclose(ds.x_train[..., 0] * ds.std + ds.mean, train / 255, atol=1e-6)
  np.testing.assert_allclose(ds.x_test[..., 0] * ds.std + ds.mean, test / 255, atol=1e-6)
  np.testing.assert_allclose(ds.mean.item(), train.mean() / 255, rtol=1e-6)
  np.testing.assert_allclose(ds.std.item(), train.std() / 255, rtol=1e-6)
  np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
  np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_subfolder_argument_and_env_var(tmp_path, monkeypatch, gz):
  arrays = fake_set(tmp_path / "fashion_mnist", gz=gz)
  ds = data.fashion_mnist(data_dir=tmp_path)
  assert ds.name == "fashion_mnist" and ds.num_classes == 10 and ds.feature_shape == (28, 28, 1)
  check_round_trip(ds, arrays)
  monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
  check_round_trip(data.load("fashion-mnist", seed=123), arrays)
  with pytest.raises(data.DataError, match=r"from \$JAXINIT_DATA_DIR\) lacks train-images-idx3-ubyte"):
    data.mnist()  # the fashion_mnist/ subfolder is not MNIST's
  assert ds.source == f"{(tmp_path / 'fashion_mnist').absolute()}; unverified: not the published " \
                      "Fashion-MNIST files"


def test_files_directly_in_the_folder_and_gzip_preferred(tmp_path):
  arrays = fake_set(tmp_path, gz=True, seed=1)
  fake_set(tmp_path, gz=False, seed=2)  # raw files with other pixels beside the .gz ones
  check_round_trip(data.mnist(data_dir=str(tmp_path)), arrays)


def test_tensorflow_datasets_is_used_without_a_folder(monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")
  monkeypatch.delenv(data.ENV_VAR, raising=False)
  with tfds.testing.mock_data(num_examples=20):  # random 28x28x1 images, labels 0..9
    ds = data.fashion_mnist()
    source = tfds.data_source("fashion_mnist", split="train")
    x_tr = np.stack([source[i]["image"] for i in range(20)])
    y_tr = [int(source[i]["label"]) for i in range(20)]
  np.testing.assert_allclose(ds.x_train * ds.std + ds.mean, x_tr / 255, atol=1e-6)
  assert ds.x_train.shape == (20, 28, 28, 1) and ds.y_train.tolist() == y_tr
  assert ds.y_test.dtype == np.int32 and len(ds.y_test) == 20
  assert ds.source.startswith("tensorflow_datasets fashion_mnist ")
  assert ds.source.endswith("; unverified: not the published Fashion-MNIST files")


def test_tensorflow_datasets_failures_are_data_errors(monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")
  monkeypatch.delenv(data.ENV_VAR, raising=False)

  def offline(name, **kwargs):
    raise ConnectionError("no network\nsecond line")

  monkeypatch.setattr(tfds, "data_source", offline)
  with pytest.raises(data.DataError, match=r"mnist .*: its train split in the default data_dir: "
                     r"tensorflow_datasets failed \(ConnectionError: no network\); accepted: its "
                     r"files prepared in \$TFDS_DATA_DIR .*tfds build mnist --file_format=array_record.*"
                     r"; or a folder holding train-images-idx3-ubyte\.gz") as e:
    data.mnist()
  assert "\n" not in str(e.value)


def test_no_folder_and_no_tensorflow_datasets(monkeypatch):
  monkeypatch.delenv(data.ENV_VAR, raising=False)
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails even if installed
  with pytest.raises(data.DataError) as e:
    data.load("mnist")
  msg = str(e.value)
  assert "tensorflow_datasets is not installed" in msg
  for part in ("$JAXINIT_DATA_DIR", "--data-dir", 'pip install "jaxinit[tfds]"', *data.IDX_FILES):
    assert part in msg, part


def test_missing_files_are_named_with_both_spellings(tmp_path):
  fake_set(tmp_path / "mnist")
  (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
  with pytest.raises(data.DataError) as e:
    data.mnist(data_dir=tmp_path)
  msg = str(e.value)
  assert "t10k-labels-idx1-ubyte.gz (or t10k-labels-idx1-ubyte)" in msg
  assert str(tmp_path / "mnist") in msg and "train-labels-idx1-ubyte.gz (" not in msg
  assert "(from --data-dir (data_dir))" in msg


def test_a_missing_folder_is_named_with_where_it_came_from(tmp_path, monkeypatch):
  with pytest.raises(data.DataError) as e:
    data.mnist(data_dir=tmp_path / "absent")
  msg = str(e.value)
  assert f"the data folder {tmp_path / 'absent'} (from --data-dir (data_dir)) does not exist" in msg
  assert "train-images-idx3-ubyte.gz (or train-images-idx3-ubyte)" in msg and "mnist/ subfolder" in msg
  (tmp_path / "file").write_text("")
  monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "file"))
  with pytest.raises(data.DataError, match=r"file \(from \$JAXINIT_DATA_DIR\) does not exist or is not"):
    data.load("fashion_mnist")


def test_data_error_is_a_value_error_and_exported():
  assert issubclass(data.DataError, ValueError) and not issubclass(data.DataError, OSError)
  assert {"DataError", "identify", "FINGERPRINTS"} <= set(data.__all__)


# ----------------------------------------------------------------------------- malformed files


IMAGES = np.zeros((3, 28, 28), np.uint8)
HEADER = b"\x00\x00\x08\x03" + b"\x00\x00\x00\x03" + b"\x00\x00\x00\x1c" * 2  # (3, 28, 28)
BAD_FILES = {
    "truncated": (dict(header=HEADER), IMAGES[:, :, :27], "payload has 2268 bytes, expected 2352"),
    "trailing": (dict(extra=b"\x00\x01"), IMAGES, "payload has 2354 bytes, expected 2352"),
    "magic": (dict(header=b"\x01" + HEADER[1:]), IMAGES, "two zero bytes"),
    "type": (dict(header=HEADER[:2] + b"\x0d" + HEADER[3:]), IMAGES,
             "0x0d is not supported; accepted: 0x08"),
    "ndim0": (dict(header=b"\x00\x00\x08\x00"), IMAGES, "0 dims"),
    "ndim5": (dict(header=b"\x00\x00\x08\x05" + b"\x00\x00\x00\x01" * 5), IMAGES[:1, 0, :1], "5 dims"),
}


@pytest.mark.parametrize("case", BAD_FILES)
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_read_idx_rejects_malformed_files(tmp_path, case, suffix):
  kwargs, array, message = BAD_FILES[case]
  path = write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", array, **kwargs)
  with pytest.raises(data.DataError, match=message) as e:
    data.read_idx(path)
  assert str(path) in str(e.value) and "accepted" in str(e.value)


def test_read_idx_a_missing_or_unreadable_file(tmp_path):
  with pytest.raises(data.DataError, match=r"absent\.gz: no such file; accepted: an IDX file"):
    data.read_idx(tmp_path / "absent.gz")
  (tmp_path / "folder").mkdir()
  with pytest.raises(data.DataError, match=r"folder: cannot be read \(.+\); accepted: an IDX file"):
    data.read_idx(tmp_path / "folder")


def test_read_idx_reads_a_valid_file(tmp_path):
  array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
  out = data.read_idx(write_idx(tmp_path / "x.gz", array))
  np.testing.assert_array_equal(out, array)
  assert out.dtype == np.uint8 and out.flags.writeable


@pytest.mark.parametrize("blob", [b"not gzip at all", gzip.compress(b"\x00" * 4000, mtime=0)[:25],
                                  gzip.compress(b"\x00" * 4000, mtime=0)[:10] + b"\xff" * 30],
                         ids=["not-gzip", "truncated", "corrupt"])  # stable ids for xdist
def test_corrupt_gzip_is_a_value_error_naming_the_file(tmp_path, blob):
  path = tmp_path / "train-labels-idx1-ubyte.gz"
  path.write_bytes(blob)
  with pytest.raises(data.DataError, match=r"train-labels-idx1-ubyte\.gz: corrupt gzip stream"):
    data.read_idx(path)
  fake_set(tmp_path / "mnist")
  path.replace(tmp_path / "mnist" / path.name)
  with pytest.raises(data.DataError, match=r"corrupt gzip stream .*; accepted"):  # through the loader
    data.mnist(data_dir=tmp_path)


def test_gzip_without_suffix_gets_a_hint(tmp_path):
  path = tmp_path / "train-labels-idx1-ubyte"
  path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05"))
  with pytest.raises(data.DataError, match=r"train-labels-idx1-ubyte: .*without the \.gz suffix"):
    data.read_idx(path)


@pytest.mark.parametrize("file, array, message", [
    ("train-images-idx3-ubyte.gz", np.zeros((20, 784)), r"images have dims \(20, 784\)"),
    ("t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 27)), r"images have dims \(10, 28, 27\)"),
    ("train-labels-idx1-ubyte.gz", np.zeros(19), r"labels have dims \(19,\); accepted: \(20,\)"),
    ("t10k-labels-idx1-ubyte.gz", np.zeros((10, 1)), r"labels have dims \(10, 1\)"),
    ("train-labels-idx1-ubyte.gz", np.full(20, 10), "label 10 is out of range; accepted: 0 to 9"),
])
def test_loader_checks_images_and_labels(tmp_path, file, array, message):
  fake_set(tmp_path / "fashion_mnist")
  write_idx(tmp_path / "fashion_mnist" / file, array)
  with pytest.raises(data.DataError, match=message) as e:
    data.fashion_mnist(data_dir=tmp_path)
  assert file in str(e.value)


# ----------------------------------------------------------------------------- published-set check


def test_identify_by_label_counts_and_pixel_mean():
  fashion = (np.repeat(np.arange(10), 6000), np.tile(np.arange(10), 1000))
  assert data.identify(*fashion) == "fashion_mnist"
  assert data.identify(*fashion, pixel_mean=72.5) == "fashion_mnist"
  assert data.identify(*fashion, pixel_mean=48.9) is None  # e.g. Kuzushiji-MNIST: also balanced
  assert data.identify(fashion[0][1:], fashion[1]) is None  # a subset
  assert data.identify(fashion[0], fashion[1] % 9) is None  # relabelled
  assert data.identify(np.arange(40) % 10, np.arange(20) % 10) is None  # test_sweep's tiny files
  fp = data.FINGERPRINTS["mnist"]
  mnist = [np.repeat(np.arange(10), counts) for counts in (fp.train_counts, fp.test_counts)]
  assert data.identify(*mnist) == "mnist" and data.identify(mnist[0], fashion[1]) is None  # a mix
  assert sum(fp.train_counts) == 60000 and sum(fp.test_counts) == 10000


@pytest.fixture(scope="module")
def balanced_dir(tmp_path_factory) -> pathlib.Path:
  """60000/10000 raw IDX files, 6000/1000 per class like Fashion-MNIST, train pixel mean 73."""
  folder = tmp_path_factory.mktemp("balanced")
  for split, n in (("train", 60000), ("t10k", 10000)):
    write_idx(folder / f"{split}-images-idx3-ubyte", np.full((n, 28, 28), 73, np.uint8))
    write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
  return folder


def test_files_identified_as_fashion_mnist_are_refused_as_mnist(balanced_dir):
  ds = data.fashion_mnist(data_dir=balanced_dir)
  assert ds.source == f"{balanced_dir.absolute()}; verified: fashion_mnist"
  with pytest.raises(data.DataError) as e:
    data.load("mnist", data_dir=balanced_dir)
  assert str(e.value) == (
      f"{balanced_dir.absolute()} holds Fashion-MNIST (its label counts per class and train pixel "
      "mean match the published Fashion-MNIST files), not MNIST; point --data-dir (data_dir) at the "
      "MNIST files or use --data fashion_mnist")


def test_balanced_files_with_another_pixel_mean_are_accepted_unverified(balanced_dir, tmp_path):
  for f in data.IDX_FILES[1:]:
    (tmp_path / f).symlink_to(balanced_dir / f)
  write_idx(tmp_path / data.IDX_FILES[0], np.full((60000, 28, 28), 49, np.uint8))
  for load in (data.mnist, data.fashion_mnist):
    ds = load(data_dir=tmp_path)
    assert ds.source.endswith("; unverified: not the published " + data._TITLE[ds.name] + " files")


# ----------------------------------------------------------------------------- normalization


@pytest.mark.parametrize("normalize", data.NORMALIZATIONS)
def test_image_normalizations_keep_the_raw_pixels_and_scale_as_named(tmp_path, normalize):
  """Every mode maps back to pixels / 255 through ``x * std + mean``; ``unit`` is pixels / 255,
  ``none`` the pixels, ``per_feature`` each pixel standardised by its own train mean and std."""
  arrays = fake_set(tmp_path)
  train = arrays["train-images-idx3-ubyte"][..., None].astype(np.float64)
  ds = data.mnist(data_dir=tmp_path, normalize=normalize)
  np.testing.assert_allclose(raw(ds.x_train, ds), train / 255, atol=1e-6)
  np.testing.assert_allclose(raw(ds.x_test, ds), arrays["t10k-images-idx3-ubyte"][..., None] / 255,
                             atol=1e-6)
  x = ds.x_train.astype(np.float64)
  if normalize == "unit":
    np.testing.assert_allclose(x, train / 255, rtol=1e-7)
  elif normalize == "none":
    np.testing.assert_array_equal(x, train)
  elif normalize == "per_feature":
    assert ds.mean.shape == (28, 28, 1)
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(x.std(0), 1, atol=1e-5)
  else:
    assert abs(x.mean()) < 1e-6 and abs(x.std() - 1) < 1e-5 and not np.allclose(x.std(0), 1)
  assert ds.source.endswith("" if normalize == "standard" else f"; normalize={normalize}")


def test_toy_sets_raw_or_standardised():
  standard, plain = data.moons(seed=3), data.load("moons", seed=3, normalize="none")
  np.testing.assert_allclose(plain.x_train, raw(standard.x_train, standard), atol=1e-6)
  assert np.all(plain.mean == 0) and np.all(plain.std == 1)
  np.testing.assert_array_equal(data.moons(seed=3, normalize="per_feature").x_train,
                                standard.x_train)
  with pytest.raises(ValueError, match="normalize='unit' divides pixels by 255 and moons has no"):
    data.load("moons", normalize="unit")
  with pytest.raises(ValueError, match="unknown normalize='z'; accepted: standard, per_feature"):
    data.circles(normalize="z")


def test_gaussian_inputs_are_standard_normal_with_uniform_labels():
  """N(0, 1) entries: mean within 4 standard errors of 0 (1/sqrt(n)) and variance within 4 of 1
  (sqrt(2/n)); labels uniform over the classes (chi-square p > 1e-3); a seed gives the same set,
  another seed and the test split other draws."""
  from scipy import stats

  ds = data.load("gaussian(dim=64, n=4000, classes=5)", seed=11)
  assert ds.name == "gaussian(dim=64, n=4000, n_test=256, classes=5)" and ds.num_classes == 5
  assert ds.x_train.shape == (4000, 64) and ds.x_test.shape == (256, 64)
  assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
  x = ds.x_train.astype(np.float64).ravel()
  assert abs(x.mean()) < 4 / np.sqrt(x.size) and abs(x.var() - 1) < 4 * np.sqrt(2 / x.size)
  assert stats.chisquare(np.bincount(ds.y_train, minlength=5)).pvalue > 1e-3
  assert np.all(ds.mean == 0) and np.all(ds.std == 1)  # not standardised by default
  again = data.gaussian(dim=64, n=4000, classes=5, seed=11)
  np.testing.assert_array_equal(again.x_train, ds.x_train)
  assert not np.array_equal(data.gaussian(dim=64, n=4000, seed=12).x_train, ds.x_train)
  assert not np.array_equal(ds.x_test, ds.x_train[:256])
  std = data.load("gaussian(dim=64, n=4000)", seed=11, normalize="standard").x_train
  np.testing.assert_allclose(std.mean(0), 0, atol=1e-6)
  np.testing.assert_allclose(std.std(0), 1, atol=1e-5)


@pytest.mark.parametrize(("name", "message"), [
    ("gaussian(dim=0)", "gaussian: dim=0 is out of range; accepted: an int >= 1"),
    ("gaussian(classes=1)", "classes=1 is out of range; accepted: an int >= 2"),
    ("gaussian(dimm=3)", "bad parameters in dataset 'gaussian.dimm=3.'.*accepted: dim, n, n_test"),
    ("gaussian(seed=3)", "not part of the name; accepted: --data-seed / --normalize"),
    ("moons(n=3)", "moons takes no parameters in its name"),
    ("gaussian(1, 2, 3)(4)", "unknown dataset"),
])
def test_bad_dataset_names(name, message):
  with pytest.raises(ValueError, match=message):
    data.canonical(name)


def test_configs_resolve_the_dataset_and_its_normalization():
  from jaxinit.studies import diagnose, sweep

  assert data.canonical("gaussian(n=64, dim=8)") == "gaussian(dim=8, n=64, n_test=256, classes=10)"
  assert sweep.SweepConfig().normalize == "standard"
  gauss = sweep.default_config("gaussian(dim=8, classes=3)")
  assert gauss.normalize == "none" and gauss.model.widths == (128, 64, 3)
  assert diagnose.DiagnoseConfig(data="fashion-mnist", normalize="unit").data == "fashion_mnist"
  with pytest.raises(ValueError, match="normalize='unit' divides pixels by 255"):
    sweep.SweepConfig(data="gaussian", normalize="unit")
  with pytest.raises(ValueError, match="use the mlp or resmlp model"):
    sweep.default_config("gaussian", "cnn")


def test_an_image_subset_is_the_first_examples_normalized_as_the_whole(mnist_ds):
  part = data.load("mnist(n_test=300, n_train=1000)")
  assert part.name == data.canonical(part.name) == "mnist(n_train=1000, n_test=300)"
  np.testing.assert_array_equal(part.x_train, mnist_ds.x_train[:1000])
  np.testing.assert_array_equal(part.y_test, mnist_ds.y_test[:300])
  assert part.x_test.shape == (300, 28, 28, 1) and "the first 1000 train examples" in part.source
  assert data.load("mnist(n_train=10)").y_test.shape == (10000,)
  with pytest.raises(ValueError, match="n_train=60001 is more than the 60000 examples"):
    data.load("mnist(n_train=60001)")
  with pytest.raises(ValueError, match="n_train=0 is out of range"):
    data.canonical("mnist(n_train=0)")
