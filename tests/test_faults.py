"""What a user meets on a fault or a doubtful input: one line, exit 2 (130 for an interrupt),
nothing half-made left, and a run that can go on where it stopped."""

import errno
import json

import pytest

from jaxinit import cli
from jaxinit import data as datasets
from jaxinit.results import folders

TINY = ["--widths", "4,1", "--schemes", "he_normal,zeros", "--seeds", "2", "--epochs", "6", "--quiet",
        "--no-figures", "--checkpoint-seconds", "0"]


def one_line(capsys: pytest.CaptureFixture) -> str:
  """The error: one line, the last on stderr (after a sweep's progress lines), no traceback."""
  lines = capsys.readouterr().err.strip().splitlines()
  assert not any("Traceback" in line for line in lines), lines
  assert [line for line in lines if line.startswith("jaxinit:")] == lines[-1:], lines
  return lines[-1]


def test_a_full_disk_is_one_line_and_resume_gives_the_uninterrupted_records(tmp_path, capsys,
                                                                             monkeypatch):
  """ENOSPC while the checkpoint of epoch 4 is written (its arrays are on disk, Orbax has not yet
  renamed its temporary folder): exit 2 with one line; the checkpoint of epoch 3 is intact, and
  --resume (space freed) ends with records byte-identical to a run that was never stopped."""
  import orbax.checkpoint as ocp

  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "whole", *TINY]) == 0
  capsys.readouterr()
  write, calls = ocp.StandardCheckpointHandler.async_save, []

  async def full_disk(self, directory, *args, **kwargs):
    written = await write(self, directory, *args, **kwargs)
    calls.append(directory)
    if len(calls) == 4:
      for future in written or []:
        future.result()
      raise OSError(errno.ENOSPC, "No space left on device", str(directory))
    return written

  monkeypatch.setattr(ocp.StandardCheckpointHandler, "async_save", full_disk)
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "cut", *TINY]) == 2
  line = one_line(capsys)
  assert line.startswith("jaxinit: error: No space left on device") and "--resume" in line
  run = folders.RunFolder(tmp_path / "cut")
  assert json.loads(run.run.read_text())["checkpoint_epoch"] == 3
  assert sorted(p.name for p in run.checkpoints.iterdir() if p.name.isdigit()) == ["2", "3"]
  monkeypatch.setattr(ocp.StandardCheckpointHandler, "async_save", write)
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "cut", "--resume", *TINY]) == 0
  assert "from epoch 3 of 6" in capsys.readouterr().err
  assert run.records.read_bytes() == folders.RunFolder(tmp_path / "whole").records.read_bytes()


def test_an_interrupt_while_loading_data_is_one_line_and_leaves_nothing(tmp_path, capsys,
                                                                        monkeypatch):
  def interrupted(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(datasets, "load", interrupted)
  assert cli.main(["sweep", "--out", str(tmp_path), *TINY]) == 130
  assert one_line(capsys) == "jaxinit: interrupted" and not any(tmp_path.iterdir())


def test_a_run_killed_before_its_first_epoch_does_not_block_its_rerun(tmp_path, capsys):
  """A SIGKILL during the first compile leaves config.json, an empty records.jsonl and at most an
  empty checkpoints/ folder."""
  folder = tmp_path / "moons-mlp"
  folder.mkdir()
  (folder / folders.RunFolder.CONFIG).write_text("{}")
  (folder / folders.RunFolder.RECORDS).write_text("")
  (folder / folders.RunFolder.CHECKPOINTS).mkdir()
  assert cli.main(["sweep", "--out", str(tmp_path), *TINY]) == 0
  assert folders.RunFolder(folder).records.stat().st_size > 0


@pytest.mark.parametrize(("argv", "says"), [
    (["sweep", "--coordinator", "notahost", "--num-processes", "2", "--process-id", "0"],
     "is not HOST:PORT"),
    (["sweep", "--coordinator", "127.0.0.1:abc", "--num-processes", "2", "--process-id", "0"],
     "is not HOST:PORT"),
    (["sweep", "--name", "two\nlines"], "control characters"),
    (["sweep", "--optimizer", "adam", "--momentum", "0.5,0.9"], "would train identically"),
    (["sweep", "--widths", "12,6,5"], "moons has 2 classes but the model has 5 outputs"),
    (["sweep", "--schemes", "critical(tanh)"], "sets tanh's critical point but the model's "
                                               "activation is relu"),
    (["diagnose", "--widths", "1"], "has only its readout"),
    (["theory", "gelu", "--K1", "1e300"], "accepted: 0 < K1 <= 1e+12"),
    # sizes, refused before anything large is built (each grew for minutes, then a traceback)
    (["sweep", "--seeds", "0:4294967295"], "accepted: at most 16,777,216"),
    (["sweep", "--seeds", "10000000"], "a population of 30000000 members needs about"),
    (["sweep", "--data", "gaussian(dim=100000000)"], "GB of host memory"),
    (["sweep", "--epochs", "100000000000"], "must be an int in [1, 2^31)"),
])
def test_doubtful_input_is_refused_in_one_line(argv, says, tmp_path, capsys):
  out = ["--out", str(tmp_path)] if argv[0] in ("sweep", "diagnose") else []
  assert cli.main([*argv, *out]) == 2
  assert says in one_line(capsys)
  assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [["sample", "--plot"], ["theory", "tanh", "--phase-diagram"]])
def test_a_figure_is_not_written_into_a_folder_made_for_a_typo(argv, tmp_path, capsys):
  target = tmp_path / "typo" / "figure.png"
  assert cli.main([*argv, str(target)]) == 2
  assert "does not exist" in one_line(capsys) and not (tmp_path / "typo").exists()


def test_coordcheck_refuses_its_own_folder_before_measuring(tmp_path, capsys, monkeypatch):
  """A folder holding coordinate checks is refused unless --overwrite, before anything runs."""
  from jaxinit.studies import coordcheck

  argv = ["coordcheck", "--width", "8,16", "--layers", "1", "--steps", "1", "--seeds", "1",
          "--batch", "4", "--out", str(tmp_path), "--name", "cc"]
  (tmp_path / "cc").mkdir()
  (tmp_path / "cc" / coordcheck.MARKER).write_text("{}")
  measured = []
  monkeypatch.setattr(coordcheck, "run", lambda *a, **k: measured.append(a))
  assert cli.main(argv) == 2 and measured == []
  assert "is not empty; pass --overwrite" in one_line(capsys)


def test_an_experiment_without_its_data_or_with_a_file_for_out_is_one_line(tmp_path, capsys,
                                                                          monkeypatch):
  """MNIST not where JAXINIT_DATA_DIR says, or --out naming a file: one line, exit 2."""
  from experiments import deep_plain_networks, mnist_schemes
  from jaxinit.studies import gallery

  monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))  # no mnist/ there
  monkeypatch.setitem(__import__("sys").modules, "tensorflow_datasets", None)  # nor tfds
  assert gallery.guarded(mnist_schemes.main, ["--tiny", "--out", str(tmp_path / "m")]) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert lines[-1].startswith("mnist_schemes: error: ") and datasets.ENV_VAR in lines[-1]
  assert not any("Traceback" in line for line in lines)
  taken = tmp_path / "a-file"
  taken.write_text("")
  assert gallery.guarded(deep_plain_networks.main, ["--tiny", "--out", str(taken)]) == 2
  assert capsys.readouterr().err.strip().splitlines()[-1].startswith("deep_plain_networks: error:")


@pytest.mark.slow
def test_figures_are_drawn_in_chunks_and_a_failed_figure_leaves_a_finished_run(tmp_path, capsys,
                                                                               monkeypatch):
  """The decision boundaries of a population evaluated one member per call (a budget of one
  byte) equal those of one call; a figure that fails (memory) leaves a finished run with its
  records and tables, and --resume draws the figures."""
  import matplotlib.image

  from jaxinit.studies import sweep

  flags = [f for f in TINY if f != "--no-figures"]
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "whole", *flags]) == 0
  monkeypatch.setattr(sweep, "FIGURE_BYTES", 1)
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "chunked", *flags]) == 0
  name = "decision_boundary_he_normal.png"
  assert (matplotlib.image.imread(tmp_path / "whole" / name)
          == matplotlib.image.imread(tmp_path / "chunked" / name)).all()

  def out_of_memory(*args, **kwargs):
    raise MemoryError("figures")

  monkeypatch.setattr(sweep, "_figures", out_of_memory)
  capsys.readouterr()
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "failed", *flags]) == 0
  assert "figures not drawn (MemoryError: figures)" in capsys.readouterr().err
  run = folders.RunFolder(tmp_path / "failed")
  record = json.loads(run.run.read_text())
  assert record["status"] == "finished" and record["figures"] == [] and run.table("md").exists()
  monkeypatch.undo()
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "failed", "--resume", *flags]) == 0
  assert (tmp_path / "failed" / name).exists()
  assert run.records.read_bytes() == folders.RunFolder(tmp_path / "whole").records.read_bytes()


def test_the_theory_refuses_a_negative_variance_and_a_zero_width():
  """Both returned nan or inf without a word."""
  from jaxinit import theory
  from jaxinit.theory import finite_width

  with pytest.raises(ValueError, match=r"K1=-1\.0 is a variance"):
    theory.kernel_recursion("tanh", 0.0, 1.0, -1.0, 3)
  with pytest.raises(ValueError, match="one width >= 1 per layer"):
    finite_width.fourth_moment_ratio("relu", [0, 5])
