"""The first hour of a new user: the command line, the demo's figure, ember.d2l in Jupyter."""
import os
import pathlib
import subprocess
import sys
import types

import pytest

import ember
from ember import __main__ as cli
from ember import d2l

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _ember(*args, cwd, env_extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "ember", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


# ---- versions ---------------------------------------------------------------------------------
def test_version_under_every_name_a_script_asks_for(tmp_path):
    script = tmp_path / "versions.py"
    script.write_text("import torch, torchvision\n"
                      "import torch.version\n"
                      "print(torch.__version__, torchvision.__version__, torch.version.__version__)\n"
                      "print(torch.version.cuda)\n")
    res = _ember("run", str(script), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    v = ember.__version__
    assert res.stdout.splitlines() == [f"{v} {v} {v}", "None"]


def test_version_flag(tmp_path):
    res = _ember("--version", cwd=tmp_path)
    assert res.returncode == 0
    assert res.stdout == f"ember {ember.__version__}\n"


# ---- python -m ember run ----------------------------------------------------------------------
def test_run_missing_script_says_so_in_one_line_like_python(tmp_path):
    res = _ember("run", "missing.py", cwd=tmp_path)
    py = subprocess.run([sys.executable, "missing.py"], cwd=tmp_path, capture_output=True,
                        text=True, check=False)
    assert res.returncode == py.returncode == 2
    assert res.stdout == ""
    assert res.stderr.splitlines() == [
        (f"python -m ember run: can't open file '{tmp_path / 'missing.py'}': "
         "[Errno 2] No such file or directory")]
    assert res.stderr.split(": ", 1)[1] == py.stderr.split(": ", 1)[1]


FAILING = """\
import atexit
import torch

atexit.register(print, "atexit ran")


def shapes():
    return torch.ones(2, 3) @ torch.ones(4, 5)


shapes()
"""


def test_run_traceback_shows_the_scripts_frames_only(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    res = _ember("run", str(script), cwd=tmp_path)
    assert res.returncode == 1
    assert res.stdout == "atexit ran\n"  # exit handlers run, as with python
    tb = res.stderr.splitlines()
    assert tb[0] == "Traceback (most recent call last):"
    assert tb[1] == f'  File "{script}", line 11, in <module>'  # the first frame is the script's
    assert f'  File "{script}", line 8, in shapes' in tb
    assert tb[-1] == "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"
    assert "__main__.py" not in res.stderr and "runpy" not in res.stderr


def test_run_keeps_sys_exit_and_syntax_errors_as_python_has_them(tmp_path):
    (tmp_path / "bye.py").write_text("import sys\nsys.exit('bye')\n")
    res = _ember("run", "bye.py", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (1, "bye\n")
    (tmp_path / "three.py").write_text("raise SystemExit(3)\n")
    assert _ember("run", "three.py", cwd=tmp_path).returncode == 3
    (tmp_path / "broken.py").write_text("x = (\n")
    res = _ember("run", "broken.py", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.splitlines()[0] == '  File "broken.py", line 1'  # no launcher frames
    assert res.stderr.splitlines()[-1] == "SyntaxError: '(' was never closed"


def test_run_keyboard_interrupt_ends_by_sigint_like_python(tmp_path):
    (tmp_path / "ctrl_c.py").write_text("raise KeyboardInterrupt\n")
    res = _ember("run", "ctrl_c.py", cwd=tmp_path)
    py = subprocess.run([sys.executable, "ctrl_c.py"], cwd=tmp_path, capture_output=True,
                        text=True, check=False)
    assert res.returncode == py.returncode != 0
    frame = 'ctrl_c.py", line 1, in <module>'
    assert res.stderr.splitlines()[1].endswith(frame)  # the script's, first
    assert py.stderr.splitlines()[1].endswith(frame)
    assert res.stderr.splitlines()[-1] == "KeyboardInterrupt"


def test_run_passes_exceptions_to_a_scripts_excepthook(tmp_path):
    (tmp_path / "hook.py").write_text(
        "import sys\n"
        "sys.excepthook = lambda t, v, tb: print('hook', t.__name__, tb.tb_frame.f_code.co_name)\n"
        "def f():\n    raise ValueError\nf()\n")
    res = _ember("run", "hook.py", cwd=tmp_path)
    assert (res.returncode, res.stdout) == (1, "hook ValueError <module>\n")


# ---- python -m ember demo ---------------------------------------------------------------------
def test_demo_help_shows_the_defaults(tmp_path):
    res = _ember("demo", "--help", cwd=tmp_path, env_extra={"COLUMNS": "200"})  # no wrapping
    assert res.returncode == 0
    for option, default in [("--epochs", "15"), ("--dataset", "mnist"), ("--batch-size", "100"),
                            ("--lr", "0.001"), ("--seed", "777"), ("--out", "ember-demo")]:
        # an option's entry: its line, and the next when the help text starts there
        entry = next(e for e in res.stdout.split("\n  -") if e.startswith(option[1:] + " "))
        assert " ".join(entry.split()).endswith(f"(default: {default})"), entry


def test_demo_curves_have_a_title_naming_the_data_set():
    pytest.importorskip("matplotlib")
    history = {"epoch": [1, 2], "train_loss": [0.5, 0.3], "test_acc": [0.9, 0.95]}
    mnist = cli._curves_figure(history, cli._curves_title("mnist", "MNIST from /data/MNIST"))
    assert mnist.axes[0].get_title() == "MNIST: 784-256-256-10 MLP"
    fallback = cli._curves_title("fashion-mnist", "scikit-learn digits (8x8)")
    fig = cli._curves_figure(history, fallback)
    assert fig.axes[0].get_title() == "scikit-learn 8x8 digits, not FashionMNIST (offline fallback)"


@pytest.fixture
def offline(monkeypatch):
    """No network, no $EMBER_DATA copy, and the 8x8 digits stubbed out (sklearn is slow to
    import; tests/test_demo.py runs the real fallback end to end)."""
    monkeypatch.setenv("EMBER_OFFLINE", "1")
    monkeypatch.delenv("EMBER_DATA", raising=False)  # the datasets would find its copy
    monkeypatch.setattr(cli, "_load_digits", lambda: "digits")


def test_demo_offline_fallback_leaves_no_empty_cache_dirs(tmp_path, offline):
    (tmp_path / "home" / ".cache").mkdir(parents=True)
    root = tmp_path / "home" / ".cache" / "ember" / "data"
    assert cli._load_images("mnist", str(root)) == "digits"
    assert os.listdir(tmp_path / "home" / ".cache") == []  # ember/data/MNIST/raw made, removed


def test_demo_offline_fallback_keeps_dirs_that_were_there(tmp_path, offline):
    (tmp_path / "MNIST").mkdir()
    (tmp_path / "MNIST" / "notes.txt").write_text("mine")
    (tmp_path / "FashionMNIST" / "raw").mkdir(parents=True)
    assert cli._load_images("mnist", str(tmp_path)) == "digits"
    assert cli._load_images("fashion-mnist", str(tmp_path)) == "digits"
    assert sorted(os.listdir(tmp_path)) == ["FashionMNIST", "MNIST"]
    assert os.listdir(tmp_path / "MNIST") == ["notes.txt"]
    assert os.listdir(tmp_path / "FashionMNIST") == ["raw"]


# ---- ember.d2l in Jupyter ---------------------------------------------------------------------
class _Notebook:
    """A cell's output area: text, displays updated in place, clear_output(wait=True)."""

    def __init__(self):
        self.outputs = []  # [kind, value]; kind "text" or "display"
        self.clear_pending = False
        self.cleared = 0

    def _arrive(self):
        if self.clear_pending:
            self.outputs.clear()
            self.clear_pending = False
            self.cleared += 1

    def write(self, s):
        if s:
            self._arrive()
            self.outputs.append(["text", s])
        return len(s)

    def flush(self):
        pass

    def modules(self):
        nb = self

        class ZMQInteractiveShell:
            pass

        class Handle:
            def __init__(self, entry):
                self.entry = entry

            def update(self, obj):
                self.entry[1] = obj  # in place, wherever it is; gone if it was cleared

        def display(obj, display_id=None):
            nb._arrive()
            entry = ["display", obj]
            nb.outputs.append(entry)
            return Handle(entry) if display_id else None

        def clear_output(wait=False):
            if wait:
                nb.clear_pending = True
            else:
                nb.outputs.clear()
                nb.cleared += 1

        ipython = types.ModuleType("IPython")
        ipython.version_info = (8, 30, 0, "")  # matplotlib's canvas asks
        shell = ZMQInteractiveShell()
        ipython.get_ipython = lambda: shell
        display_mod = types.ModuleType("IPython.display")
        display_mod.display, display_mod.clear_output = display, clear_output
        ipython.display = display_mod
        return {"IPython": ipython, "IPython.display": display_mod}


def test_trainer_epoch_lines_survive_the_live_plot_in_jupyter(monkeypatch):
    pytest.importorskip("matplotlib")
    nb = _Notebook()
    for name, mod in nb.modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setitem(sys.modules, "matplotlib_inline", None)  # no real inline backend
    assert d2l._in_notebook()
    monkeypatch.setattr(sys, "stdout", nb)
    ember.manual_seed(0)
    data = d2l.SyntheticRegressionData(w=ember.tensor([2, -3.4]), b=4.2, num_train=200,
                                       num_val=100)
    model = d2l.LinearRegression(lr=0.03)
    d2l.Trainer(max_epochs=3).fit(model, data)
    monkeypatch.undo()

    text = "".join(v for kind, v in nb.outputs if kind == "text")
    epochs = [line for line in text.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/3", "2/3", "3/3"]
    figures = [v for kind, v in nb.outputs if kind == "display"]
    assert figures == [model.board.fig]  # one live figure, redrawn in place
    assert nb.cleared == 0 and not nb.clear_pending
    labels = [t.get_text() for t in model.board.fig.gca().get_legend().get_texts()]
    assert labels == ["train_loss", "val_loss"]


# ---- the examples' install line -----------------------------------------------------------------
def test_examples_extra_covers_every_import_of_the_seed_scripts():
    import ast
    import re

    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {re.split(r"[<>=\[ ]", req)[0].lower()
                 for req in project["dependencies"] + project["optional-dependencies"]["examples"]}
    distribution = {"PIL": "pillow", "sklearn": "scikit-learn"}  # import name -> pip name
    ours = {"torch", "torchvision", "d2l"}  # ember, through `python -m ember run`
    needed = set()
    for script in sorted((ROOT / "examples" / "seeds").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in ours and top not in sys.stdlib_module_names:
                    needed.add(distribution.get(top, top).lower())
    needed |= {"pillow", "matplotlib"}  # torchvision's datasets and d2l's figures, in ember
    assert "pandas" in needed  # what the extra once lacked (S0 and S3 2.2 read CSV files)
    assert needed <= installed, needed - installed
    readme = (ROOT / "examples" / "README.md").read_text()
    assert "pip install -e '.[examples]'" in readme
