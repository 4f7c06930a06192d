"""The README stays true: its tour runs, and CI runs the README's test command."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_python_examples_run():
  blocks = re.findall(r"```python\n(.*?)```", README, re.S)
  own = [b for b in blocks if "protocol." in b]
  tour, population, theory = [b for b in blocks if b not in own]
  namespace: dict = {}
  exec(compile(tour, "README.md", "exec"), namespace)
  assert namespace["init"].name == "he_normal"
  assert namespace["ws"].shape == (3, 784, 128)
  namespace = {}
  exec(compile(population, "README.md", "exec"), namespace)
  assert namespace["epoch"] == 3 and namespace["metrics_M4"].shape == (16, 4)
  nnx_example, linen_example = own  # "Your own model": an nnx population and muP from shapes
  namespace = {}
  exec(compile(nnx_example, "README.md", "exec"), namespace)
  assert namespace["epoch"] == 3 and namespace["metrics_M4"].shape == (16, 4)
  assert len(namespace["members"]) == 16
  namespace = {}
  exec(compile(linen_example, "README.md", "exec"), namespace)
  assert namespace["roles"] == {"hidden/bias": "bias", "hidden/kernel": "input",
                                "readout/bias": "fixed", "readout/kernel": "output"}
  assert namespace["mup"].width_multiplier == 4.0
  lines = theory.strip().splitlines()
  imports = [line for line in lines if line.startswith(("from ", "import "))]
  namespace = {}
  exec(compile("\n".join(imports), "README.md", "exec"), namespace)
  for line in lines[len(imports):]:  # each line: an expression and, after '#', what it prints
    expr, comment = line.split("#", 1)
    value = eval(expr, namespace)
    for number in re.findall(r"\d+\.\d+", comment):
      assert number.rstrip(".") in repr(float(value) if not hasattr(value, "_fields") else value)


def test_readme_opens_with_two_commands_and_ci_runs_the_test_command():
  blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
  install_and_run, install_and_test = blocks[0].strip(), blocks[1].strip()
  assert README.index("```bash") < README.index("jaxinit is")
  assert "pip install ." in install_and_run and install_and_run.endswith("jaxinit sweep")
  test_command = install_and_test.split("&& ")[-1]
  assert test_command.startswith("python -m pytest")
  assert test_command in (ROOT / ".ci" / "run").read_text()


def test_every_figure_and_link_of_the_readmes_exists():
  """The READMEs' images and local links (the gallery and its figures) point at committed files."""
  for readme in (ROOT / "README.md", ROOT / "experiments" / "README.md"):
    text = readme.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, readme
    for target in local:
      assert (readme.parent / target).exists(), f"{readme.name}: {target}"
  gallery = (ROOT / "experiments" / "README.md").read_text()
  run_all = (ROOT / "experiments" / "run_all.py").read_text()
  for name in re.findall(r'"(\w+)"', run_all.split("EXPERIMENTS = (")[1].split(")")[0]):
    assert f"## {name}" in gallery and f"results/{name}/" in gallery, name


def test_readme_sweep_examples_run_in_order_without_colliding():
  """Each `jaxinit sweep` example writes its own folder (the quickstart's `runs/moons-mlp` too), so a
  newcomer running them in order is never refused for a folder an earlier one filled; a `--resume`
  continues an earlier example's folder with that example's flags."""
  import shlex

  from jaxinit import cli
  from jaxinit.results import folders
  from jaxinit.studies import sweep

  text = "\n".join(re.findall(r"```bash\n(.*?)```", README, re.S)).replace("\\\n", " ")
  seen: dict = {}
  for line in text.splitlines():
    commands = [c for c in re.split(r"&&?", line.split("#")[0]) if c.strip()]
    words = shlex.split(commands[-1]) if commands else []  # the quickstart's "... && jaxinit sweep"
    while words and "=" in words[0]:
      words.pop(0)  # an environment assignment: XLA_FLAGS=...
    if words[:2] != ["jaxinit", "sweep"]:
      continue
    args = cli.flags.parser().parse_args(words[1:])
    config = cli._sweep_config(args)
    name = args.name or f"{folders.slug(config.data)}-{sweep.model_slug(config.model)}"
    if args.resume:
      assert seen.get(name) == config, f"{line!r} resumes {name}, which no earlier example made alike"
    else:
      assert name not in seen, f"{line!r} writes {name}, as an earlier example did"
      seen[name] = config
  assert "moons-mlp" in seen and len(seen) >= 10  # the quickstart counted too
