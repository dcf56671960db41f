"""The repository's promises: the README's commands are the ones CI runs."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_has_demo_and_test_commands():
    cmds = _commands()
    assert any("python -m ember demo" in c for c in cmds)
    assert any("pytest" in c for c in cmds)


def test_ci_runs_the_readme_test_command():
    test_cmd = next(c for c in _commands() if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()


def test_import_does_not_pull_in_heavy_modules():
    import subprocess
    import sys

    code = ("import sys, ember; heavy = [m for m in ('torch', 'matplotlib', 'PIL', 'ember.nn', "
            "'ember.optim', 'ember.utils.data', 'ember._ops.nn_ops', 'numpy.random', 'pandas', "
            "'scipy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_nn_ops_names_are_its_exports():
    import ember
    from ember._ops import nn_ops

    assert ember._NN_OPS_NAMES == set(nn_ops.__all__)
    for name in nn_ops.__all__:
        assert getattr(ember, name) is getattr(nn_ops, name)
        assert name in dir(ember)
    x = ember.arange(6.0).reshape(2, 3)
    assert ember.equal(x.softmax(1), nn_ops.softmax(x, 1))
    assert ember.equal(x.log_softmax(dim=0), nn_ops.log_softmax(x, 0))


def test_lazy_submodules_exist_and_missing_ones_are_attribute_errors():
    import ember

    for name in ember._LAZY_MODULES:
        assert getattr(ember, name).__name__ == f"ember.{name}"
    assert not hasattr(ember, "quantization")  # an AttributeError, so hasattr() answers


# ---- the core stays readable (issue #13) ------------------------------------------------------
_EMBER = pathlib.Path(__file__).resolve().parents[1] / "ember"
_COMPUTE_PATH = ["_tensor.py", "autograd", "_ops", "nn", "optim"]


def _py_files(*names):
    for name in names:
        p = _EMBER / name
        yield from ([p] if p.is_file() else sorted(p.rglob("*.py")))


def test_the_core_is_at_most_1300_lines():
    n = sum(len(p.read_text().splitlines()) for p in _py_files("_tensor.py", "autograd"))
    assert n <= 1300, f"ember/_tensor.py + ember/autograd/ are {n} lines (the budget is 1,300)"


def test_the_compute_path_reaches_numpy_only_through_the_backend():
    direct = re.compile(r"^\s*(import numpy|from numpy)\b", re.M)
    bad = [str(p.relative_to(_EMBER)) for p in _py_files(*_COMPUTE_PATH)
           if direct.search(p.read_text())]
    assert not bad, f"import the array library from ember/_backend.py instead: {bad}"


def test_no_private_numpy_api_and_one_removable_handle():
    private = re.compile(r"(?<![\"'])\b(numpy|np|xp)\._\w")  # (a name in a string is data)
    texts = {p: p.read_text() for p in _EMBER.rglob("*.py")}
    assert not [str(p) for p, t in texts.items() if private.search(t)]
    handles = [str(p) for p, t in texts.items() if "class RemovableHandle" in t]
    assert handles == [str(_EMBER / "utils" / "hooks.py")]
