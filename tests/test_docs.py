"""The documentation site (``docs/``): the quickstart notebook is committed executed and runs as
committed, the API reference covers every layer, and the site builds with warnings as errors.

After changing the notebook, execute it in place (``pip install -e ".[docs]"``; it writes into a
temporary folder of its own)::

  jupyter execute --inplace docs/quickstart.ipynb
"""

import json
import re
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOK = DOCS / "quickstart.ipynb"

MACHINE_PATH = re.compile(r"(/tmp|/var|/private|/home|/root|/Users|/work)/|[A-Z]:\\")
"""An absolute path of the machine that executed the notebook (its outputs name relative paths)."""


def code_cells() -> list[dict]:
  return [c for c in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
          if c["cell_type"] == "code"]


def output_text(output: dict) -> str:
  """Everything of one output a reader sees, as text (images as their MIME type)."""
  if "text" in output:
    return "".join(output["text"])
  parts = [k if k.startswith("image/") else "".join(v) for k, v in output.get("data", {}).items()]
  return "\n".join(parts) + "".join(output.get("traceback", []))


def test_quickstart_is_committed_executed_and_names_no_machine_path():
  cells = code_cells()
  assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1)), \
      "execute it in order from a fresh kernel: jupyter execute --inplace docs/quickstart.ipynb"
  outputs = [o for c in cells for o in c["outputs"]]
  assert not [o for o in outputs if o["output_type"] == "error"]
  assert any("image/png" in o.get("data", {}) for o in outputs), "the figure is missing"
  leaked = [m.group(0) for o in outputs for m in [MACHINE_PATH.search(output_text(o))] if m]
  assert leaked == [], f"outputs name machine paths: {leaked}"


def test_the_api_reference_has_a_page_for_every_layer_unit():
  named = set()
  for page in (DOCS / "api").glob("*.rst"):
    for line in re.findall(r"^\.\. jaxinit-modules:: (.+)$", page.read_text(), re.MULTILINE):
      named |= set(line.split())
  units = {p.stem if p.is_file() else p.name for p in (ROOT / "jaxinit").iterdir()
           if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
  assert named == units | {"jaxinit"}, f"units without an API page: {units - named}"


@pytest.mark.slow
def test_quickstart_runs_and_trains_the_population_it_shows(tmp_path, monkeypatch):
  pytest.importorskip("pandas", reason="the notebook reads its run with jaxinit.results.load")
  pytest.importorskip("IPython", reason="the notebook displays the table with IPython.display")
  monkeypatch.setenv("MPLBACKEND", "Agg")
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the notebook's mkdtemp goes here
  monkeypatch.chdir(tmp_path)
  # As in a kernel, the cells run in one namespace that is the module __main__: the notebook's
  # model is named "__main__:Mlp" in its sweep.
  main = types.ModuleType("__main__")
  monkeypatch.setitem(sys.modules, "__main__", main)
  for i, cell in enumerate(code_cells()):
    source = "".join(cell["source"])
    exec(compile(source, f"quickstart.ipynb, code cell {i + 1}", "exec"), main.__dict__)
  ns = main.__dict__
  ns["plt"].close("all")
  config, df = ns["config"], ns["df"]
  assert [row["scheme"] for row in ns["result"].table] == list(config.schemes)
  assert len(df) == len(config.schemes) * len(config.seeds) * config.train.epochs
  final = df[df.epoch == config.train.epochs].groupby("scheme").test_acc.mean()
  assert final["zeros"] == 0.5  # every unit equal: the constant output, chance on balanced moons
  assert final["he_normal"] > 0.85 and final['{"*": "as_built"}'] > 0.85
  figure = Path.cwd() / "figures" / "test_accuracy.png"
  assert Path.cwd().parent == tmp_path and figure.stat().st_size > 10_000


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
  pytest.importorskip("sphinx", reason='the docs extra is not installed: pip install -e ".[docs]"')
  pytest.importorskip("myst_nb", reason='the docs extra is not installed: pip install -e ".[docs]"')
  out = tmp_path / "html"
  build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          str(DOCS), str(out)], capture_output=True, text=True, cwd=ROOT)
  assert build.returncode == 0, build.stderr[-4000:]
  for page in ("index", "quickstart", "own_model", "gallery", "theory", "architecture", "api/engine"):
    assert (out / f"{page}.html").is_file(), page
  assert (out / "_images" / "phase_diagram.png").is_file()  # the gallery's figures come along
