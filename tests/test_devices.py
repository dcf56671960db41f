"""Devices and defaults: the answers of PyTorch's CPU-only build (accelerator, backends, mps,
amp, compile, default device) and the stubs programs import (distributed, nn.parallel)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

import ember
from tests.helpers import needs_torch, torch


def test_accelerator_answers():
    acc = ember.accelerator
    assert acc.is_available() is False
    assert acc.current_accelerator() is None
    assert acc.device_count() == 0
    for fn in (acc.current_device_index, acc.synchronize, lambda: acc.set_device_index(0)):
        with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is "
                                               "available."):
            fn()


@needs_torch
def test_accelerator_matches_torch_cpu_build():
    assert torch.accelerator.is_available() == ember.accelerator.is_available()
    assert torch.accelerator.current_accelerator() is ember.accelerator.current_accelerator()
    assert torch.accelerator.device_count() == ember.accelerator.device_count()
    assert torch.backends.mps.is_available() == ember.backends.mps.is_available()
    assert torch.mps.is_available() == ember.mps.is_available()
    assert torch.backends.cudnn.is_available() == ember.backends.cudnn.is_available()
    for flag in ("benchmark", "deterministic", "enabled"):
        assert getattr(torch.backends.cudnn, flag) == getattr(ember.backends.cudnn, flag)
    assert torch.backends.cuda.matmul.allow_tf32 == ember.backends.cuda.matmul.allow_tf32
    assert torch.get_float32_matmul_precision() == ember.get_float32_matmul_precision()


def test_default_device():
    assert ember.get_default_device() == ember.device("cpu")
    ember.set_default_device("cpu")
    ember.set_default_device(None)
    ember.set_default_device(ember.device("cpu"))
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        ember.set_default_device("cuda")
    with pytest.raises(RuntimeError, match="not linked with support for mps devices"):
        ember.set_default_device("mps")
    with ember.device("cpu"):
        assert ember.zeros(1).device == ember.device("cpu")
    with pytest.raises(RuntimeError, match="mps"):
        ember.zeros(1, device="mps")


def test_device_pattern_and_threads():
    dev = ember.device("cuda" if ember.cuda.is_available() else "cpu")
    assert str(dev) == "cpu"
    assert ember.get_num_interop_threads() >= 1
    assert ember.cuda.is_bf16_supported() is False


def test_compile_returns_the_callable_unchanged():
    ember._flags["compile_noted"] = False
    model = ember.nn.Linear(2, 2)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert ember.compile(model) is model

        @ember.compile
        def f(x):
            return x + 1

        @ember.compile(mode="max-autotune", fullgraph=True)
        def g(x):
            return x * 2

    assert f(1) == 2 and g(2) == 4
    notes = [x for x in w if "runs eagerly" in str(x.message)]
    assert len(notes) == 1  # one note per process, not one per call
    with pytest.raises(RuntimeError, match="must be a callable"):
        ember.compile(3)


def test_backend_flags_are_settable():
    cudnn = ember.backends.cudnn
    old = cudnn.benchmark, cudnn.deterministic
    cudnn.benchmark, cudnn.deterministic = True, True
    assert cudnn.benchmark and cudnn.deterministic
    cudnn.benchmark, cudnn.deterministic = old
    ember.backends.cuda.matmul.allow_tf32 = True
    ember.backends.cuda.matmul.allow_tf32 = False
    assert ember.backends.cpu.get_cpu_capability() == "DEFAULT"
    assert ember.backends.mps.is_built() is False


def test_deterministic_and_matmul_precision_flags():
    assert ember.are_deterministic_algorithms_enabled() is False
    ember.use_deterministic_algorithms(True, warn_only=True)
    assert ember.are_deterministic_algorithms_enabled()
    assert ember.is_deterministic_algorithms_warn_only_enabled()
    ember.use_deterministic_algorithms(False)
    assert not ember.are_deterministic_algorithms_enabled()
    ember.set_float32_matmul_precision("high")
    assert ember.get_float32_matmul_precision() == "high"
    with pytest.warns(UserWarning, match="is not one of 'highest', 'high', or 'medium'"):
        ember.set_float32_matmul_precision("bad")
    assert ember.get_float32_matmul_precision() == "high"
    ember.set_float32_matmul_precision("highest")


def test_mps_module():
    assert ember.mps.device_count() == 0
    ember.mps.manual_seed(0)
    with pytest.raises(RuntimeError, match="without MPS backend"):
        ember.mps.synchronize()


def test_autocast_is_a_no_op_context():
    x = ember.ones(2, 2)
    with pytest.warns(UserWarning, match="Disabling autocast"):
        ctx = ember.autocast(device_type="cuda", dtype=ember.float16)
    with ctx:
        assert not ember.is_autocast_enabled()
        assert (x @ x).dtype == ember.float32
    with ember.autocast("cpu", enabled=False):
        assert (x @ x).dtype == ember.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ember.amp.autocast("cpu", dtype=ember.bfloat16):
            assert ember.is_autocast_enabled()
            assert (x @ x).dtype == ember.float32
    assert not ember.is_autocast_enabled()


def test_bfloat16_is_named_but_not_a_tensor_type():
    assert repr(ember.bfloat16) == "ember.bfloat16"
    assert {"bfloat16": ember.bfloat16, "float32": ember.float32}["bfloat16"] is ember.bfloat16
    with pytest.raises(TypeError, match="ember has no bfloat16 tensors"):
        ember.zeros(2, dtype=ember.bfloat16)


def test_grad_scaler_disabled_without_cuda():
    with pytest.warns(UserWarning, match="CUDA is not available.  Disabling."):
        scaler = ember.amp.GradScaler("cuda")
    with pytest.warns(FutureWarning, match="torch.cuda.amp.GradScaler"), \
            pytest.warns(UserWarning, match="Disabling"):
        legacy = ember.cuda.amp.GradScaler(enabled=True)
    p = ember.nn.Parameter(ember.ones(2))
    opt = ember.optim.SGD([p], lr=0.5)
    for s in (scaler, legacy):
        assert not s.is_enabled() and s.get_scale() == 1.0
        loss = (p * 2).sum()
        assert s.scale(loss) is loss
        s.scale(loss).backward()
        s.unscale_(opt)
        s.step(opt)
        s.update()
        opt.zero_grad()
    assert p.tolist() == [-1.0, -1.0]  # two plain SGD steps of lr 0.5 on grad 2
    quiet = ember.cuda.amp.GradScaler.__mro__[1](enabled=False)
    assert not quiet.is_enabled()


def test_single_process_path_of_distributed_programs():
    # the path programs take when they were not launched as ranks (nanoGPT's `ddp = False`)
    assert not ember.distributed.is_initialized()
    from ember.nn.parallel import DataParallel

    lin = ember.nn.Linear(2, 1)
    dp = DataParallel(lin)
    x = ember.ones(3, 2)
    assert ember.equal(dp(x), lin(x))
    assert "module.weight" in dp.state_dict()


def test_imports_programs_use_under_compat(tmp_path):
    code = textwrap.dedent("""
        import torch
        import torch.backends.cudnn as cudnn
        from torch.cuda.amp import GradScaler, autocast
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.distributed import init_process_group, destroy_process_group
        cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        ptdtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}
        print(ptdtype['bfloat16'], torch.accelerator.current_accelerator())
        use_accel = torch.accelerator.is_available()
        device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
        print(device, torch.backends.mps.is_available())
    """)
    script = tmp_path / "prog.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, "-m", "ember", "run", str(script)], text=True,
                         capture_output=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["torch.bfloat16", "None", "cpu", "False"]


def test_float_of_a_grad_tensor_warns_once(monkeypatch):
    from ember._ops import protocols

    monkeypatch.setattr(protocols, "_float_warned", False)
    x = ember.tensor(2.0, requires_grad=True)
    with pytest.warns(UserWarning, match="Converting a tensor with requires_grad=True to a scalar"):
        assert float(x) == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        float(x)  # once per process, as PyTorch's TORCH_WARN_ONCE
        x.item()
        int(x)


def test_generator_prints_as_torch_under_compat(tmp_path):
    script = tmp_path / "gen.py"
    script.write_text("import torch\ng = torch.Generator().manual_seed(1)\n"
                      "print(type(g), repr(g).split(' at ')[0])\n")
    out = subprocess.run([sys.executable, "-m", "ember", "run", str(script)], text=True,
                         capture_output=True)
    assert out.stdout.strip() == "<class 'torch._C.Generator'> <torch._C.Generator object"
    assert ember.Generator.__module__ == "ember._random"  # only while compat is installed
