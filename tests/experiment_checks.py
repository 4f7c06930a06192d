"""What the experiments' tests share: reading a table's CSV, and skipping where MNIST is missing."""

import csv
import os
import pathlib

import pytest

from jaxinit import data


def read_csv(path: pathlib.Path) -> list[dict[str, str]]:
  """A CSV table's rows as dicts of strings."""
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


_DATA_DIR = os.environ.get(data.ENV_VAR)
needs_mnist = pytest.mark.skipif(
    not _DATA_DIR or not (pathlib.Path(_DATA_DIR) / "mnist").exists(),
    reason=f"needs the MNIST IDX files in ${data.ENV_VAR}/mnist")
"""A test (or module, as ``pytestmark``) that trains on real MNIST."""
