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
            "'ember.optim', 'ember.utils.data', 'pandas', 'scipy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
