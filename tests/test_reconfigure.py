"""Reconfigurable runs: an experiment's ``--set KEY=VALUE`` (jaxinit.studies.gallery) and
``jaxinit sweep --config`` (a saved sweep run again from its config.json)."""

import dataclasses
import importlib
import json
import pkgutil

import pytest

import experiments
from jaxinit import cli
from jaxinit.engine import train as tr
from jaxinit.studies import gallery, sweep

EXPERIMENTS = sorted(m.name for m in pkgutil.iter_modules(experiments.__path__) if m.name != "run_all")


@dataclasses.dataclass(frozen=True)
class _Config:
  seeds: int = 2
  lr: float = 0.1
  tiny_check: bool = False
  schemes: tuple[str, ...] = ("zeros", "normal(stddev=10.0)")
  optimizers: tuple[tuple[str, float], ...] = (("adam", 2.0 ** -8),)
  subset: tuple[int, int] | None = None
  epochs: int | None = None
  train: tr.TrainConfig = dataclasses.field(default_factory=lambda: tr.TrainConfig(epochs=3))

  def __post_init__(self) -> None:
    if self.seeds < 1:
      raise ValueError(f"seeds={self.seeds}; accepted: >= 1")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_setting_reads_back_from_its_own_text(name):
  module = importlib.import_module(f"experiments.{name}")
  for config in (module.Config(), module.TINY):
    for field in dataclasses.fields(config):
      text = gallery.setting_text(config, field.name)
      assert gallery.reconfigure(config, [f"{field.name}={text}"]) == config, (field.name, text)


def test_values_are_read_by_the_field_type():
  c = gallery.reconfigure(_Config(), [
      "seeds=8", "lr=1e-3", "tiny_check=true", "schemes=critical(tanh),normal(stddev=0.1)",
      'optimizers=[["sgd", 0.125], ["adam", 1]]', "subset=64,32", "epochs=5", "train.epochs=7",
      "train.batch_size=16"])
  assert c == _Config(seeds=8, lr=1e-3, tiny_check=True,
                      schemes=("critical(tanh)", "normal(stddev=0.1)"),
                      optimizers=(("sgd", 0.125), ("adam", 1.0)), subset=(64, 32), epochs=5,
                      train=tr.TrainConfig(epochs=7, batch_size=16))
  assert type(c.optimizers[1][1]) is float and type(c.lr) is float
  assert gallery.reconfigure(c, ["subset=none", "epochs=null", "schemes=[\"he_normal\"]",
                                 "tiny_check=0"]) == dataclasses.replace(
      c, subset=None, epochs=None, schemes=("he_normal",), tiny_check=False)
  assert gallery.setting_text(_Config(), "optimizers") == '[["adam", 0.00390625]]'
  assert gallery.setting_text(_Config(), "train.epochs") == "3"


@pytest.mark.parametrize("setting, message", [
    ("seed=3", "unknown --set key 'seed'; accepted: seeds, lr, tiny_check, schemes, "),
    ("train.epoch=3", "unknown --set key 'train.epoch'; accepted in train: epochs, "),
    ("seeds.x=3", "'seeds.x': seeds is a value, not a config"),
    ("train=3", "train is a nested config; set its settings: train.epochs, "),
    ("seeds", "accepted: KEY=VALUE"),
    ("seeds=2.5", "--set seeds=2.5: seeds takes int, e.g. seeds=2"),
    ("tiny_check=maybe", "tiny_check takes bool, e.g. tiny_check=false"),
    ("subset=1,2,3", "subset takes tuple[int, int] | None, e.g. subset=none"),
    ("optimizers=adam", "optimizers takes tuple[tuple[str, float], ...], e.g. "
     'optimizers=[["adam", 0.00390625]]'),
    ("epochs=five", "epochs takes int | None"),
    ("seeds=0", "seeds=0; accepted: >= 1"),  # the config's own check
])
def test_bad_settings_are_one_line_naming_what_is_accepted(setting, message):
  with pytest.raises(ValueError) as e:
    gallery.reconfigure(_Config(), [setting])
  assert message in str(e.value) and "\n" not in str(e.value)


def test_a_changed_config_gets_its_own_default_folder(monkeypatch, tmp_path, capsys):
  monkeypatch.chdir(tmp_path)
  full, tiny = _Config(seeds=16), _Config()
  out = gallery.Output.from_argv("A study.", "demo", full, tiny, ["--tiny", "--set", "seeds=3"])
  assert out.config == _Config(seeds=3) and out.tiny
  folder = out.folder.as_posix()
  assert folder.startswith("runs/demo-tiny-") and len(folder) == len("runs/demo-tiny-") + 8
  assert f"its run goes to {folder}" in capsys.readouterr().err
  out.summary({})
  assert json.loads((out.folder / "summary.json").read_text())["config"]["seeds"] == 3
  # the same settings find the same folder (and its finished run); others, or none, do not
  again = gallery.Output.from_argv("A study.", "demo", full, tiny, ["--tiny", "--set", "seeds=3"])
  assert again.folder == out.folder and again.finished()
  other = gallery.Output.from_argv("A study.", "demo", full, tiny, ["--tiny", "--set", "seeds=4"])
  assert other.folder != out.folder and not other.finished()
  plain = gallery.Output.from_argv("A study.", "demo", full, tiny, ["--tiny", "--set", "seeds=2"])
  assert plain.folder.as_posix() == "runs/demo-tiny" and plain.config == tiny
  given = gallery.Output.from_argv("A study.", "demo", full, tiny, ["--set", "lr=1", "--out", "x"])
  assert given.folder.as_posix() == "x" and given.config == _Config(seeds=16, lr=1.0)


def test_an_experiment_refuses_an_unknown_key_in_one_line(tmp_path, capsys):
  from experiments import moons_initialization

  argv = ["--tiny", "--out", str(tmp_path / "m"), "--set", "seed=3"]
  assert gallery.guarded(moons_initialization.main, argv) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("moons_initialization: error: unknown --set key 'seed'; accepted: seeds, ")
  assert "\n" not in err
  argv[-1] = "epochs=401"  # not a multiple of eval_every: the config's own check
  assert gallery.guarded(moons_initialization.main, argv) == 2
  assert "epochs=401 is not a multiple of eval_every=200" in capsys.readouterr().err
  assert not (tmp_path / "m" / "summary.json").exists()


def _sweep(argv):
  return cli.main(["sweep", "--quiet", "--no-figures", "--checkpoint-seconds", "1000", *argv])


def test_sweep_reruns_from_its_config_json_with_the_same_records(tmp_path, capsys):
  first = tmp_path / "first"
  assert _sweep(["--seeds", "2", "--epochs", "2", "--widths", "4,1", "--schemes", "zeros,he_normal",
                 "--out", str(tmp_path), "--name", "first"]) == 0
  config = first / "config.json"
  assert _sweep(["--config", str(config), "--out", str(tmp_path), "--name", "again"]) == 0
  again = tmp_path / "again"
  assert (again / "records.jsonl").read_bytes() == (first / "records.jsonl").read_bytes()
  assert (again / "config.json").read_bytes() == config.read_bytes()
  assert (again / "table.md").read_bytes() == (first / "table.md").read_bytes()
  capsys.readouterr()
  # the usual folder rules: a folder holding a run is refused without --resume or --overwrite
  assert _sweep(["--config", str(config), "--out", str(tmp_path), "--name", "again"]) == 2
  assert "already holds a run" in capsys.readouterr().err


def test_sweep_config_refuses_flags_that_set_the_config_and_other_files(tmp_path, capsys):
  config = tmp_path / "config.json"
  config.write_text(json.dumps(sweep.SweepConfig(seeds=(0,)).to_json()))
  assert _sweep(["--config", str(config), "--seeds", "4", "--data", "moons", "--batch-norm",
                 "--out", str(tmp_path)]) == 2
  err = capsys.readouterr().err.strip()
  assert err == (f"jaxinit: error: --config reruns the sweep saved in {config} as it is; --data, "
                 "--batch-norm, --seeds would change it: leave them out, or edit a copy of the "
                 "config file")
  for text, what in [("[1, 2]", "(a JSON list)"), ('{"status": "finished"}', "(settings status)"),
                     ("{}", "(settings without model and train)"), ("not json", "is not JSON"),
                     (json.dumps({**sweep.SweepConfig().to_json(), "train": {"epochz": 1}}),
                      "unexpected keyword argument 'epochz'")]:
    config.write_text(text)
    assert _sweep(["--config", str(config), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"jaxinit: error: {config} ") and what in err and "\n" not in err, err
    assert "accepted: the config.json a sweep writes in its run folder" in err
  assert _sweep(["--config", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
  assert "No such file or directory" in capsys.readouterr().err
