"""Tests for the tensorflow-datasets route of jaxinit.data (``tfds:NAME``, read through
``tfds.data_source`` without TensorFlow), the validation split every dataset name can ask for
(``validation=V``), and the one-line errors of a missing, broken or offline tfds stack.

Offline: ``tfds.testing.mock_data`` stands in for the prepared files (random uint8 images of the
builder's shape, random labels of its classes); the tests that need tfds skip where it is absent.
"""

from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pytest

from jaxinit import cli, data


@pytest.fixture
def tfds():
  return pytest.importorskip("tensorflow_datasets")


def rows(x: np.ndarray) -> list[bytes]:
  """Each example's bytes, to compare examples as sets."""
  return [r.tobytes() for r in x]


def test_cifar10_through_data_source(tfds):
  with tfds.testing.mock_data(num_examples=24):
    ds = data.load("tfds:cifar10")
    source = tfds.data_source("cifar10", split="train")
    pixels = np.stack([source[i]["image"] for i in range(len(source))])
    labels = np.array([source[i]["label"] for i in range(len(source))])
    assert data.num_classes("tfds:cifar10") == 10
  assert ds.name == "tfds:cifar10" and data.family(ds.name) == "images"
  assert ds.x_train.shape == (24, 32, 32, 3) and ds.x_test.shape == (24, 32, 32, 3)
  assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32 and ds.num_classes == 10
  np.testing.assert_array_equal(ds.y_train, labels)
  np.testing.assert_allclose(ds.x_train * ds.std + ds.mean, pixels / 255, atol=1e-6)
  # standard: one scalar mean and std over every train pixel and channel
  assert abs(ds.x_train.mean()) < 1e-5 and ds.x_train.std() == pytest.approx(1, abs=1e-5)
  assert ds.mean.shape == ds.std.shape == (1, 1, 1)
  assert ds.source.startswith("tensorflow_datasets cifar10 3.0.2 in its default data_dir: "
                              "train[24], test[24]; fingerprint ")


def test_two_loads_are_identical_and_the_fingerprint_tells_data_apart(tfds):
  with tfds.testing.mock_data(num_examples=12):
    first, again = data.load("tfds:cifar10"), data.load("tfds:cifar10")
    unit = data.load("tfds:cifar10", normalize="unit")
  with tfds.testing.mock_data(num_examples=13):  # other examples
    other = data.load("tfds:cifar10")
  for part in ("x_train", "y_train", "x_test", "y_test", "mean", "std"):
    np.testing.assert_array_equal(getattr(first, part), getattr(again, part))
  assert again.source == first.source and unit.source == f"{first.source}; normalize=unit"
  assert first.source.split("fingerprint ")[1][:16] not in other.source
  assert float(unit.x_train.min()) >= 0.0 and float(unit.x_train.max()) <= 1.0


@pytest.mark.parametrize("name", ["tfds:cifar10(validation=10)",
                                  "tfds:svhn_cropped(n_train=5, validation=10)"])
def test_validation_split_is_held_out_of_train_and_seeded(tfds, name, monkeypatch):
  read = []
  data_source = tfds.data_source
  monkeypatch.setattr(tfds, "data_source",
                      lambda *a, **k: read.append(k["split"]) or data_source(*a, **k))
  with tfds.testing.mock_data(num_examples=30):
    full = data.load(name.partition("(")[0])
    read.clear()
    a, b, c = (data.load(name, seed=s) for s in (3, 3, 4))
  assert read == ["train"] * 3  # the test split is not read
  assert a.name == name and len(a.y_test) == 10 and len(a.y_train) == (5 if "n_train" in name else 20)
  for part in ("x_train", "y_train", "x_test", "y_test"):  # same seed, same split, bit for bit
    np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
  held, rest, train = (set(rows(x)) for x in (a.x_test, a.x_train, full.x_train))
  assert len(train) == 30 and not held & rest and held | rest <= train
  if "n_train" not in name:
    assert held | rest == train
  assert set(rows(c.x_test)) != held  # another seed, another split
  assert "test_* is a validation split: 10 train examples held out by data seed 3" in a.source


@pytest.mark.parametrize("name, train, held", [("moons(validation=100)", 300, 100),
                                               ("gaussian(dim=3, n=50, validation=20)", 30, 20),
                                               ("modular(p=7, validation=5)", 19, 5)])
def test_validation_split_for_every_family(name, train, held):
  ds = data.load(name, seed=1)
  base = data.load(name.replace(f"validation={held}", "").replace("(, ", "(").replace(", )", ")")
                   .replace("()", ""), seed=1)
  assert ds.name == data.canonical(name) and (len(ds.y_train), len(ds.y_test)) == (train, held)
  assert sorted(rows(np.concatenate([ds.x_train, ds.x_test]))) == sorted(rows(base.x_train))
  assert data.validation(name) == held and data.validation(base.name) is None


def test_validation_names():
  assert data.canonical("tfds:CIFAR10(validation=5000, n_train=100)") == \
      "tfds:cifar10(n_train=100, validation=5000)"
  assert data.canonical("mnist(validation=10000)") == "mnist(validation=10000)"
  assert data.evaluated_on("mnist(validation=10000)", 2) == (
      "test_* is a validation split: 10000 train examples held out by data seed 2 (the test split "
      "unused).")
  for bad, message in (("tfds:cifar10(n_test=5, validation=5)", "one of them"),
                       ("tfds:cifar10(validation=0)", "validation=0 is out of range"),
                       ("tfds:cifar10(batch=3)", "accepted: n_train, n_test, validation"),
                       ("tfds:cifar 10", "is no tfds name"),
                       ("cifar10", "or tfds:NAME")):
    with pytest.raises(ValueError, match=message):
      data.canonical(bad)
  with pytest.raises(ValueError, match="validation=400 leaves no train examples of the 400"):
    data.load("moons(validation=400)")


def test_nbytes_from_the_builder_info(tfds):
  # not prepared: only the examples the name gives count; the image shape is the builder's
  assert data.nbytes("tfds:cifar10(n_train=10, validation=5)") == 15 * (2 * 4 * 32 * 32 * 3 + 4)


def one_line_error(capsys, argv: list[str], announced: bool = False) -> str:
  """The error line of a command that exits 2, checked to be its only stderr line (after the
  sweep's announcement of what it runs, where ``announced``)."""
  assert cli.main(argv) == 2
  lines = capsys.readouterr().err.splitlines()
  assert len(lines) == 1 + announced and lines[-1].startswith("jaxinit: error: "), lines
  return lines[-1]


def test_broken_tfds_install_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
  real = importlib.import_module

  def broken(name, *args, **kwargs):
    if name == "tensorflow_datasets":
      raise ModuleNotFoundError("No module named 'importlib_resources'", name="importlib_resources")
    return real(name, *args, **kwargs)

  monkeypatch.setattr(data.importlib, "import_module", broken)
  argv = ["sweep", "--data", "tfds:cifar10", "--out", str(tmp_path)]
  err = one_line_error(capsys, argv)
  assert "tensorflow_datasets cannot be imported (ModuleNotFoundError: No module named " \
         "'importlib_resources')" in err
  assert 'pip install importlib_resources, or pip install "jaxinit[tfds]"' in err
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
  monkeypatch.setattr(data.importlib, "import_module", real)
  assert "tensorflow_datasets is not installed" in one_line_error(capsys, argv)
  assert not list(tmp_path.iterdir())


def test_unknown_set_and_failed_download_are_one_line_exit_2(tfds, tmp_path, monkeypatch, capsys):
  err = one_line_error(capsys, ["sweep", "--data", "tfds:no_such_set", "--out", str(tmp_path)])
  assert "tfds:no_such_set: tensorflow_datasets has no dataset 'no_such_set'" in err
  err = one_line_error(capsys, ["sweep", "--data", "tfds:imdb_reviews", "--out", str(tmp_path)])
  assert "hold no image and class label" in err

  def offline(name, **kwargs):  # what an offline download ends in with tfds 4.9.10
    raise ModuleNotFoundError("No module named 'importlib_resources'", name="importlib_resources")

  monkeypatch.setattr(tfds, "data_source", offline)
  err = one_line_error(capsys, ["sweep", "--data", "tfds:cifar10", "--model", "cnn", "--data-dir",
                                str(tmp_path / "tfds"), "--out", str(tmp_path)], announced=True)
  assert f"tfds:cifar10: its train split in {tmp_path / 'tfds'}: tensorflow_datasets failed to " \
         "import a module" in err
  assert "tfds build cifar10 --file_format=array_record" in err
  assert "pip install importlib_resources" in err
  assert not (tmp_path / "cifar10").exists()


@pytest.mark.slow
def test_sweep_trains_a_cnn_on_mock_cifar10_with_a_validation_split(tfds, tmp_path):
  with tfds.testing.mock_data(num_examples=16):
    rc = cli.main(["sweep", "--data", "tfds:cifar10(validation=8)", "--model", "cnn", "--channels",
                   "4,4", "--widths", "8,10", "--seeds", "2", "--epochs", "1", "--batch-size", "4",
                   "--schemes", "he_normal", "--out", str(tmp_path), "--name", "run"])
  assert rc == 0
  run = json.loads((tmp_path / "run" / "run.json").read_text())
  assert "tensorflow_datasets cifar10 3.0.2" in run["data_source"]
  assert "test_* is a validation split: 8 train examples held out by data seed 0" in run["data_source"]
  assert "test_* is a validation split" in (tmp_path / "run" / "table.md").read_text()
  records = [json.loads(line) for line in (tmp_path / "run" / "records.jsonl").read_text().splitlines()]
  assert len(records) == 2 and all(np.isfinite(r["test_loss"]) for r in records)
