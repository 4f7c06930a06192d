"""`jaxinit sweep --model package.module:factory`: a user's model from the command line."""

from __future__ import annotations

import json
import re
import shutil
import sys
import textwrap
from pathlib import Path

import flax.serialization
import jax
import numpy as np
import pytest

from jaxinit import cli, results
from jaxinit import data as datasets
from jaxinit.engine import train as tr
from jaxinit.nets import models, protocol
from jaxinit.results import folders
from jaxinit.studies import sweep

USER_MODULE = textwrap.dedent('''
    import flax.linen as nn
    from flax import nnx

    class Tiny(nnx.Module):
      """An nnx MLP with its own names: body/<i>, out."""

      def __init__(self, width: int = 8, depth: int = 2, rngs: nnx.Rngs = None):
        self.body = nnx.List([nnx.Linear(2 if i == 0 else width, width, rngs=rngs)
                              for i in range(depth)])
        self.out = nnx.Linear(width, 1, rngs=rngs)

      def __call__(self, x):
        for layer in self.body:
          x = nnx.relu(layer(x))
        return self.out(x)

    class LinenTiny(nn.Module):
      width: int = 8

      @nn.compact
      def __call__(self, x):
        return nn.Dense(1, name="out")(nn.tanh(nn.Dense(self.width, name="hidden")(x)))

    def linen_tiny(width: int = 8):
      return LinenTiny(width)

    NOT_CALLABLE = 3
''')
FLAGS = ["--seeds", "3", "--epochs", "4", "--quiet", "--no-figures"]


@pytest.fixture()
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
  (tmp_path / "my_models.py").write_text(USER_MODULE)
  monkeypatch.syspath_prepend(str(tmp_path))
  sys.modules.pop("my_models", None)
  return "my_models"


def test_sweep_of_an_nnx_factory_from_the_command_line(user_module: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
  schemes = 'he_normal,{"*/kernel": "orthogonal", "*/bias": "zeros"}'
  args = ["sweep", "--model", f"{user_module}:Tiny", "--model-args", '{"width": 16}',
          "--schemes", schemes, "--out", str(tmp_path / "runs"), *FLAGS]
  assert cli.main(args) == 0
  folder = tmp_path / "runs" / "moons-Tiny"
  config = json.loads((folder / "config.json").read_text())
  assert config["model"] == {"target": "my_models:Tiny", "args": '{"width": 16}',
                             "parametrization": "sp", "width_arg": "width"}
  assert sweep.stored_config(config) == config  # round-trips, so --resume can compare
  rows = results.read_records(folder / "records.jsonl")
  assert len(rows) == 4 * 6 and {r["scheme"] for r in rows} == {
      "he_normal", '{"*/kernel": "orthogonal", "*/bias": "zeros"}'}
  # The same members trained by the engine directly, from the built model: the same records.
  cfg = sweep.load_config(config)
  data = tr.device_data(datasets.load("moons"))
  model = cfg.model.build(data.x_train)
  assert model is cfg.model.build(data.x_train)  # one object: compiled programs are shared
  *_, (_, _, metrics) = tr.run(model, cfg.train, cfg.members(), data)
  last = [r for r in rows if r["epoch"] == 4]
  np.testing.assert_allclose([r["train_loss"] for r in last], metrics[:, 0], rtol=1e-6)
  assert "my_models:Tiny" in capsys.readouterr().err  # the start line names the model


@pytest.mark.slow
def test_a_linen_factory_under_mup_sweeps_widths(user_module: str, tmp_path: Path) -> None:
  args = ["sweep", "--model", f"{user_module}:linen_tiny", "--model-args", '{"width": 8}',
          "--parametrization", "mup", "--width", "8,16", "--schemes", "he_normal", "--lr",
          "0.05,0.1", "--out", str(tmp_path / "runs"), *FLAGS]
  assert cli.main(args) == 0
  sub = json.loads((tmp_path / "runs" / "moons-linen_tiny" / "width_16" / "config.json"
                    ).read_text())
  assert sub["model"]["args"] == '{"width": 16}'
  assert sub["model"]["parametrization"] == "mup(base_width=8)"


@pytest.mark.parametrize("model, extra, message", [
    ("my_models:Nope", [], "has no attribute 'Nope'"),
    ("no_such_module:f", [], "cannot import no_such_module"),
    ("my_models:NOT_CALLABLE", [], "is not callable"),
    ("my_models", [], "unknown model 'my_models'.*package.module:factory"),
    ("my_models:", [], "package.module:attr"),
    ("my_models:Tiny", ["--model-args", "[1, 2]"], "JSON object"),
    ("my_models:Tiny", ["--model-args", '{"wdth": 4}'], "unexpected keyword"),
    ("my_models:Tiny", ["--widths", "4,1"], "takes its settings as --model-args"),
    ("my_models:Tiny", ["--schemes", '{"*/kernel": "zeros"}'], "match no rule for body/0/bias"),
    ("my_models:Tiny", ["--schemes", "fixup"], "block gates|residual MLP"),
])
def test_bad_user_models_are_one_line_errors_that_leave_nothing(
    user_module: str, tmp_path: Path, capsys: pytest.CaptureFixture, model: str,
    extra: list[str], message: str) -> None:
  code = cli.main(["sweep", "--model", model, "--out", str(tmp_path / "runs"), *FLAGS, *extra])
  err = capsys.readouterr().err
  assert code == 2, err
  lines = [line for line in err.splitlines() if line.startswith("jaxinit: error")]
  assert len(lines) == 1 and re.search(message, lines[0]), err
  assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_checkpoint_of_the_earlier_layout_resumes(tmp_path: Path) -> None:
  """``checkpoint.msgpack`` files written before TrainState held every model collection (its field
  was ``batch_stats``: the BatchNorm tree) restore into today's state, equal to the Orbax
  checkpoint of the same epoch."""
  config = sweep.SweepConfig(model=models.ModelConfig(widths=(8, 1), batch_norm=True),
                             schemes=("he_normal",), seeds=(0, 1),
                             train=tr.TrainConfig(epochs=2, batch_size=100))
  result = sweep.run(config, tmp_path / "run", quiet=True, figures=False)
  home = folders.RunFolder(result.folder)
  template = tr.init_state(config.model, config.train, config.members(), np.zeros((4, 2), np.float32))
  with sweep._checkpoints(home) as store:
    epoch, saved = store.restore(template, 2, None)
  assert epoch == 2
  payload = flax.serialization.msgpack_restore(flax.serialization.to_bytes(
      {"epoch": epoch, "state": jax.tree.map(np.asarray, saved)}))  # what earlier versions wrote
  assert set(payload["state"]["model_state"]) == {"batch_stats"}
  old = dict(payload["state"])
  old["batch_stats"] = old.pop("model_state")["batch_stats"]
  home.legacy_checkpoint.write_bytes(flax.serialization.msgpack_serialize({**payload, "state": old}))
  shutil.rmtree(home.checkpoints)
  with sweep._checkpoints(home) as store:
    epoch, state = store.restore(template, 2, None)
  assert epoch == 2
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(saved), strict=True):
    np.testing.assert_array_equal(a, b)
  assert protocol.flat_paths(state.model_state)  # the statistics came back


@pytest.mark.slow
def test_diagnose_of_a_user_model_measures_each_layer_output(user_module: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
  """`jaxinit diagnose --model`: each layer's G = mean z^2 per member equals the layers applied by
  hand (z = h W + b, h = relu(z)) to the variables the engine drew, in the forward order."""
  from jaxinit.engine import population as pop
  from jaxinit.studies import diagnose

  args = ["diagnose", "--model", f"{user_module}:Tiny", "--model-args", '{"width": 16, "depth": 3}',
          "--schemes", "he_normal,glorot_normal", "--seeds", "3", "--examples", "64",
          "--out", str(tmp_path), "--no-figures"]
  assert cli.main(args) == 0
  out = capsys.readouterr().out
  assert "| body/0 |" in out and "| out |" in out
  record = json.loads((tmp_path / "diagnose-moons-Tiny" / diagnose.MARKER).read_text())
  assert record["layers"] == ["body/0", "body/1", "body/2", "out"]
  config = diagnose.DiagnoseConfig(model=protocol.Spec("my_models:Tiny",
                                                       '{"width": 16, "depth": 3}'),
                                   schemes=("he_normal", "glorot_normal"), seeds=(0, 1, 2))
  x = np.asarray(datasets.load("moons").x_train[:64], np.float64)
  net = config.model.build(x)
  variables = pop.init_params(net, config.members(), (2,), host=True)["params"]
  for k in range(6):
    h, expected = x, []
    for name in ("body/0", "body/1", "body/2", "out"):
      layer = variables
      for part in name.split("/"):
        layer = layer[int(part) if part.isdigit() else part]  # nnx.List: int keys
      z = h @ np.asarray(layer["kernel"][k], np.float64) + np.asarray(layer["bias"][k], np.float64)
      expected.append(np.mean(z ** 2))
      h = np.maximum(z, 0)
    got = [r["kernel"] for r in record["records"] if r["member"] == k]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
