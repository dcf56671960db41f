"""ember.compat: torch/torchvision/d2l imports resolve to ember while installed."""
import subprocess
import sys
import textwrap

import pytest

import ember
from ember import compat


@pytest.fixture
def installed():
    compat.install()
    try:
        yield
    finally:
        compat.uninstall()


def _fresh(code: str) -> str:
    """Run code in a new interpreter (so a real torch in this process is not in the way)."""
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_torch_modules_are_ember_modules():
    out = _fresh("""
        import ember.compat; ember.compat.install()
        import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim
        import torch.optim.lr_scheduler, torch.utils.data, torch.autograd
        from torch.utils.data import DataLoader, Dataset
        import torchvision, torchvision.datasets, torchvision.transforms
        from torchvision import datasets, transforms
        from d2l import torch as d2l
        import d2l.torch as d2l_torch
        import ember
        assert torch is ember and nn is ember.nn and F is ember.nn.functional
        assert optim is ember.optim and torch.utils.data is ember.utils.data
        assert torchvision is ember.vision and datasets is ember.vision.datasets
        assert d2l is ember.d2l and d2l_torch is ember.d2l
        print(torch.tensor([1.0], dtype=torch.float64), torch.zeros(2, 3).shape)
        print(torch.cuda.is_available())
    """)
    assert out.splitlines() == ["tensor([1.], dtype=torch.float64) torch.Size([2, 3])", "False"]


def test_uninstall_restores_prefix_and_imports(installed):
    assert repr(ember.float64) == "torch.float64"
    compat.uninstall()
    assert repr(ember.float64) == "ember.float64"
    assert not compat.is_installed()
    compat.install()  # the fixture uninstalls again


def test_uninstall_gives_back_real_torch():
    out = _fresh("""
        import torch as real
        import ember.compat
        ember.compat.install()
        import torch
        assert torch.__name__ == "ember"
        ember.compat.uninstall()
        import torch
        assert torch is real
        print("ok")
    """)
    assert out.strip() == "ok"


def test_cuda_guarded_code_paths_run():
    out = _fresh("""
        import ember.compat; ember.compat.install()
        import torch
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
        torch.manual_seed(777)
        if device == 'cuda':
            torch.cuda.manual_seed_all(777)
        torch.cuda.manual_seed_all(777)
        x = torch.ones(2).to(device)
        print(device, x.device)
        try:
            torch.ones(2).to('cuda')
        except RuntimeError as e:
            print('error', 'CUDA' in str(e))
    """)
    assert out.splitlines() == ["cpu cpu", "error True"]


def test_python_m_ember_run(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import sys
        import torch
        from torch import nn
        print(torch.__name__, sys.argv[1:], torch.arange(3))
    """))
    res = subprocess.run([sys.executable, "-m", "ember", "run", str(script), "a", "b"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ember ['a', 'b'] tensor([0, 1, 2])"
