"""Whole modules: ``torch.save(model)`` / ``torch.load(f, weights_only=False)``, safely.

ember writes modules as pickle protocol 2 does (NEWOBJ of the class, BUILD with its ``__dict__``)
and reads them back only for ``nn.Module`` subclasses of modules already imported, without
running any code of the class (no ``__new__``, ``__init__``, ``__setstate__``, ``__reduce__``).
"""
import io
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest

import ember
from ember.serialization import UnpicklingError

MARKER_ENV = "EMBER_TEST_MARKER"


class Net(ember.nn.Module):
    """A user's model: submodules, a parameter, a buffer and plain config attributes."""

    def __init__(self, hidden=4):
        super().__init__()
        self.embed = ember.nn.Embedding(10, hidden)
        self.rnn = ember.nn.LSTM(hidden, hidden, num_layers=2, dropout=0.5)
        self.head = ember.nn.Sequential(ember.nn.Linear(hidden, 3), ember.nn.Tanh())
        self.scale = ember.nn.Parameter(ember.full((3,), 2.0))
        self.register_buffer("offset", ember.arange(3).float())
        self.register_buffer("scratch", ember.zeros(1), persistent=False)
        self.config = {"hidden": hidden, "name": "net", "dims": (1, 2), "dtype": ember.float32,
                       "size": ember.Size([2, 3]), "ratio": 0.25, "none": None, "flag": True}

    def forward(self, tokens):
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out) * self.scale + self.offset


class Evil(ember.nn.Module):
    """A Module subclass whose (de)serialization hooks would run code if anything called them."""

    def __new__(cls, *args, **kwargs):
        _touch()
        return super().__new__(cls)

    def __init__(self):
        super().__init__()
        self.lin = ember.nn.Linear(2, 2)

    def __setstate__(self, state):
        _touch()

    def __reduce_ex__(self, proto):
        return (os.system, ("true",))

    def forward(self, x):
        return self.lin(x)


def _touch():
    path = os.environ.get(MARKER_ENV)
    if path:
        open(path, "w").close()


def _load(path, **kw):
    return ember.load(path, **kw)


def _pickle_of(path):
    with zipfile.ZipFile(path) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))


def _ember_run(cwd, script):
    """``python -m ember run script`` in ``cwd``, with this checkout's ember importable."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(ember.__file__)))
    return subprocess.run([sys.executable, "-m", "ember", "run", script], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env, check=False)


def _archive(path, data: bytes):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", data)
        zf.writestr("archive/version", "3\n")


def test_user_module_round_trip(tmp_path):
    ember.manual_seed(0)
    m = Net().eval()
    m.tied = m.head[0].weight  # the same Parameter under two names stays one object
    m.act_cls = ember.nn.ReLU  # a Module class as a value: saved by name
    tokens = ember.tensor([[1, 2], [3, 4], [5, 6]])
    ember.save(m, tmp_path / "net.pt")
    r = _load(tmp_path / "net.pt", weights_only=False)
    assert type(r) is Net and r.training is False
    assert all(not c.training for c in r.modules())
    assert np.array_equal(r(tokens).detach().numpy(), m(tokens).detach().numpy())
    assert r.config == m.config and type(r.config["dims"]) is tuple
    assert type(r.config["size"]) is ember.Size and r.config["dtype"] is ember.float32
    assert r.tied is r.head[0].weight and type(r.tied) is ember.nn.Parameter
    assert r.act_cls is ember.nn.ReLU
    assert list(r.state_dict()) == list(m.state_dict())
    assert "scratch" not in r.state_dict() and r.scratch.tolist() == [0.0]
    assert [n for n, _ in r.named_parameters()] == [n for n, _ in m.named_parameters()]
    # it trains like the original: gradients flow, train() reaches every submodule
    r.train()
    assert r.rnn.training and r.head[1].training
    r(tokens).sum().backward()
    assert r.scale.grad is not None and r.rnn.weight_ih_l0.grad is not None
    # a file object works as a path does; a list of modules shares its submodules
    buf = io.BytesIO()
    ember.save({"model": m, "again": [m.head, m]}, buf)
    buf.seek(0)
    d = ember.load(buf, weights_only=False)
    assert d["again"][1] is d["model"] and d["again"][0] is d["model"].head


def test_ember_classes_are_saved_under_torch_names(tmp_path):
    m = ember.nn.Sequential(ember.nn.Linear(2, 3), ember.nn.ReLU())
    ember.save(m, tmp_path / "seq.pt")
    names = ember.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "seq.pt")
    assert set(names) == {"torch.nn.modules.container.Sequential",
                          "torch.nn.modules.linear.Linear", "torch.nn.modules.activation.ReLU"}


def test_weights_only_true_refuses_modules_as_torch_does(tmp_path):
    ember.save(Net(), tmp_path / "net.pt")
    for kw in ({}, {"weights_only": True}, {"weights_only": None}):
        with pytest.raises(UnpicklingError) as exc:
            _load(tmp_path / "net.pt", **kw)
        msg = str(exc.value)
        assert isinstance(exc.value, pickle.UnpicklingError)
        assert str(tmp_path / "net.pt") in msg and "Weights only load failed" in msg
        assert "weights_only` set to `False`" in msg and f"{__name__}.Net" in msg


def test_safe_globals_allow_the_listed_module_classes(tmp_path):
    # pytorch/examples' word_language_model loads this way today
    m = Net().eval()
    ember.save(m, tmp_path / "net.pt")
    nn = ember.nn
    classes = [Net, nn.Embedding, nn.LSTM, nn.Sequential, nn.Linear, nn.Tanh]
    with ember.serialization.safe_globals(classes):
        r = _load(tmp_path / "net.pt")
        assert ember.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "net.pt") == []
    assert type(r) is Net
    with ember.serialization.safe_globals(classes[:-1]), \
            pytest.raises(UnpicklingError, match="torch.nn.modules.activation.Tanh"):
        _load(tmp_path / "net.pt")  # one class missing: named


def test_torch_written_sequential_and_lstm_load(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    lstm = torch.nn.LSTM(4, 5, num_layers=2, bidirectional=True)
    torch.save(seq, tmp_path / "seq.pt")
    torch.save(lstm, tmp_path / "lstm.pt")
    x = np.random.default_rng(0).standard_normal((3, 2, 4)).astype(np.float32)
    with torch.no_grad():
        want_seq = seq(torch.from_numpy(x)).numpy()
        out, (h, c) = lstm(torch.from_numpy(x))
    s = _load(tmp_path / "seq.pt", weights_only=False)
    assert type(s) is ember.nn.Sequential and type(s[0]) is ember.nn.Linear
    np.testing.assert_allclose(s(ember.tensor(x)).detach().numpy(), want_seq, rtol=1e-5,
                               atol=1e-6)
    r = _load(tmp_path / "lstm.pt", weights_only=False)
    assert type(r) is ember.nn.LSTM and r.bidirectional and r.num_layers == 2
    assert "_flat_weights" not in r.__dict__  # torch's cache; ember computes it
    got, (gh, gc) = r(ember.tensor(x))
    for a, b in ((got, out), (gh, h), (gc, c)):
        np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(UnpicklingError, match="Weights only load failed"):
        _load(tmp_path / "lstm.pt")
    # a fresh process that has imported only ember (not ember.nn) loads it too
    code = (f"import ember; m = ember.load({str(tmp_path / 'seq.pt')!r}, weights_only=False); "
            "print(type(m).__module__, type(m[0]).__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.stdout.split() == ["ember.nn.modules.container", "Linear"], r.stdout + r.stderr


def test_torch_written_transformer_layer_keeps_its_activation(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0).eval()
    torch.save(layer, tmp_path / "tel.pt")
    x = np.random.default_rng(1).standard_normal((3, 2, 8)).astype(np.float32)
    with torch.no_grad():
        want = layer(torch.from_numpy(x)).numpy()
    r = _load(tmp_path / "tel.pt", weights_only=False)
    assert r.activation is ember.nn.functional.relu  # a reference to ember's own function
    np.testing.assert_allclose(r(ember.tensor(x)).detach().numpy(), want, rtol=1e-5, atol=1e-5)


def test_ember_written_modules_load_in_torch(tmp_path):
    torch = pytest.importorskip("torch")
    m = ember.nn.Sequential(ember.nn.Linear(4, 3), ember.nn.ReLU(), ember.nn.Linear(3, 1))
    ember.save(m, tmp_path / "seq.pt")
    t = torch.load(tmp_path / "seq.pt", weights_only=False)
    assert type(t) is torch.nn.Sequential and type(t[0]) is torch.nn.Linear
    x = np.ones((2, 4), np.float32)
    with torch.no_grad():
        got = t(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, m(ember.tensor(x)).detach().numpy(), rtol=1e-6)
    lstm = ember.nn.LSTM(4, 3, num_layers=2)  # torch's RNNs need _flat_weights in the state
    ember.save(lstm, tmp_path / "lstm.pt")
    t = torch.load(tmp_path / "lstm.pt", weights_only=False)
    x = np.ones((2, 1, 4), np.float32)
    with torch.no_grad():
        got = t(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(got, lstm(ember.tensor(x))[0].detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    assert "_flat_weights" not in ember.load(tmp_path / "lstm.pt", weights_only=False).__dict__


# The pattern of a language-model training script (our own code): the model class lives in a
# module next to the script, picks its recurrent layer by name, and the whole model is saved
# and loaded again, then loaded once more with only the listed classes allowed.
WLM_MODEL = '''
import torch
from torch import nn


class RNNModel(nn.Module):
    def __init__(self, cell, vocab, width, layers, p):
        super().__init__()
        self.cell, self.vocab, self.width, self.layers = cell, vocab, width, layers
        self.embed = nn.Embedding(vocab, width)
        self.rnn = getattr(nn, cell)(width, width, layers, dropout=p)
        self.head = nn.Linear(width, vocab)
        self.drop = nn.Dropout(p)

    def zero_state(self, batch):
        w = self.head.weight
        h = w.new_zeros(self.layers, batch, self.width)
        return (h, h.clone()) if self.cell == "LSTM" else h

    def forward(self, tokens, state):
        seq, state = self.rnn(self.drop(self.embed(tokens)), state)
        logits = self.head(self.drop(seq)).reshape(-1, self.vocab)
        return logits.log_softmax(-1), state
'''

WLM_MAIN = '''
import torch
import model
from model import RNNModel

torch.manual_seed(3)
net = model.RNNModel("LSTM", 20, 8, 2, 0.2)
tokens = torch.randint(0, 20, (6, 3))
step = torch.optim.SGD(net.parameters(), lr=0.1)
logp, _ = net(tokens, net.zero_state(3))
torch.nn.functional.nll_loss(logp, tokens.reshape(-1)).backward()
step.step()
net.eval()


def predict(m):
    with torch.no_grad():
        return m(tokens, m.zero_state(3))[0]


before = predict(net)
with open("model.pt", "wb") as f:
    torch.save(net, f)
with open("model.pt", "rb") as f:
    net = torch.load(f, weights_only=False)
print("same", bool(torch.equal(before, predict(net))), type(net).__module__,
      type(net.rnn).__name__)
allowed = [RNNModel, torch.nn.Embedding, torch.nn.LSTM, torch.nn.Linear, torch.nn.Dropout]
with open("model.pt", "rb") as f, torch.serialization.safe_globals(allowed):
    net = torch.load(f)
net.rnn.flatten_parameters()
print("safe_globals", bool(torch.equal(before, predict(net))))
'''


def test_word_language_model_pattern_under_ember_run(tmp_path):
    (tmp_path / "model.py").write_text(textwrap.dedent(WLM_MODEL))
    (tmp_path / "main.py").write_text(textwrap.dedent(WLM_MAIN))
    r = _ember_run(tmp_path, "main.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "same True model LSTM" in r.stdout, r.stdout + r.stderr
    assert "safe_globals True" in r.stdout, r.stdout + r.stderr


# ---- what a file must never achieve -------------------------------------------------------
def test_class_hooks_are_never_called(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    m = Evil()
    monkeypatch.setenv(MARKER_ENV, str(marker))
    ember.save(m, tmp_path / "evil.pt")  # ember writes __dict__; it never asks __reduce_ex__
    assert not marker.exists()
    r = _load(tmp_path / "evil.pt", weights_only=False)
    assert not marker.exists()  # neither __new__ nor __setstate__ ran
    assert type(r) is Evil and np.array_equal(r.lin.weight.detach().numpy(),
                                              m.lin.weight.detach().numpy())
    # torch pickles it through its __reduce_ex__: os.system is named, and refused
    torch = pytest.importorskip("torch")
    torch.save(m, tmp_path / "reduce.pt")
    assert not marker.exists()
    with pytest.raises(UnpicklingError, match="posix.system|os.system"):
        _load(tmp_path / "reduce.pt", weights_only=False)
    assert not marker.exists()


def _hostile(tmp_path, data, *named, weights_only=False):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    _archive(path, data)
    with pytest.raises(UnpicklingError) as exc:
        ember.load(path, weights_only=weights_only)
    msg = str(exc.value)
    assert str(path) in msg, msg
    for n in named:
        assert n in msg, msg
    assert not marker.exists()
    return msg


def test_functions_and_unimported_classes_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    cmd = f"__import__('os').system('touch {marker}')".encode()
    arg = b"X" + len(cmd).to_bytes(4, "little") + cmd
    for module, name in (("builtins", "eval"), ("__builtin__", "exec"), ("os", "system"),
                         ("posix", "system"), ("subprocess", "Popen"), ("torch", "load"),
                         ("ember", "save"), ("torch.nn.functional", "relu")):
        g = b"c" + f"{module}\n{name}\n".encode()
        _hostile(tmp_path, b"\x80\x02" + g + arg + b"\x85R.", f".{name}")  # REDUCE
        _hostile(tmp_path, b"\x80\x02" + g + b")\x81}b.", f".{name}")  # NEWOBJ + BUILD
    # a Module subclass in a module nobody imported: never imported to find it
    assert "ember_never_imported_mod" not in sys.modules
    msg = _hostile(tmp_path, b"\x80\x02cember_never_imported_mod\nNet\n)\x81}b.",
                   "ember_never_imported_mod.Net", "not imported")
    assert "ember_never_imported_mod" not in sys.modules and "never imports" in msg
    # a class that is not a Module (argparse is imported by pytest); a nested name
    _hostile(tmp_path, b"\x80\x02cargparse\nNamespace\n)\x81}b.", "argparse.Namespace",
             "not an nn.Module subclass")
    _hostile(tmp_path, b"\x80\x02c" + f"{__name__}\nNet.__init__\n".encode() + b")\x81}b.",
             "Net.__init__")
    # a Module class called as a function (REDUCE would run __init__), or given NEWOBJ args
    g = f"c{__name__}\nEvil\n".encode()
    _hostile(tmp_path, b"\x80\x02" + g + b")R.", "REDUCE")
    _hostile(tmp_path, b"\x80\x02" + g + b"K\x01\x85\x81}b.", "NEWOBJ")


def test_module_state_tricks_are_refused(tmp_path):
    g = f"c{__name__}\nNet\n".encode()
    # created but never given state; given state twice; state that is not a dict
    _hostile(tmp_path, b"\x80\x02" + g + b")\x81.", "never given its state")
    _hostile(tmp_path, b"\x80\x02" + g + b")\x81}b}b.", "BUILD")
    _hostile(tmp_path, b"\x80\x02" + g + b")\x81K\x01b.", "must be a dict")
    # a dunder attribute; bookkeeping of the wrong type
    _hostile(tmp_path, b"\x80\x02" + g + b")\x81}X\x09\x00\x00\x00__class__K\x01sb.",
             "__class__")
    _hostile(tmp_path, b"\x80\x02" + g + b")\x81}X\x0b\x00\x00\x00_parametersK\x01sb.",
             "_parameters must be a dict")
    _hostile(tmp_path, b"\x80\x02" + g + b")\x81}X\x0b\x00\x00\x00_parameters}X\x01\x00\x00\x00"
             b"wK\x01ssb.", "_parameters['w'] is 1, not a Parameter")
    _hostile(tmp_path, b"\x80\x02" + g + b")\x81}X\x08\x00\x00\x00trainingK\x01sb.", "training must be a bool")


def test_byte_flips_of_a_module_file_load_or_name_the_file(tmp_path):
    ember.manual_seed(0)
    ember.save(Net(), tmp_path / "net.pt")
    raw = (tmp_path / "net.pt").read_bytes()
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(tmp_path / "net.pt") as zf:
        info = zf.getinfo("archive/data.pkl")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for _ in range(60):
        b = bytearray(raw)
        i = int(rng.integers(start, start + info.file_size))
        b[i] ^= 1 << int(rng.integers(0, 8))
        (tmp_path / "flip.pt").write_bytes(bytes(b))
        try:
            ember.load(tmp_path / "flip.pt", weights_only=False)
        except UnpicklingError as exc:
            assert "flip.pt" in str(exc)


# ---- what cannot be saved --------------------------------------------------------------------
def test_unsavable_attributes_are_named(tmp_path):
    m = Net()
    m.head[0].act = lambda x: x
    with pytest.raises(TypeError, match=r"obj\.head\.0\.act") as exc:
        ember.save(m, tmp_path / "x.pt")
    assert "function" in str(exc.value)
    m = Net()
    with open(tmp_path / "log.txt", "w") as m.log, \
            pytest.raises(TypeError, match=r"obj\.log of type _io.TextIOWrapper"):
        ember.save(m, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()

    class Local(ember.nn.Module):
        pass

    with pytest.raises(TypeError, match="not defined at the top level"):
        ember.save({"m": Local()}, tmp_path / "x.pt")


def test_hooks_are_dropped_with_a_warning(tmp_path):
    m = ember.nn.Linear(2, 2)
    calls = []
    m.register_forward_hook(lambda mod, inp, out: calls.append(1))
    with pytest.warns(UserWarning, match=r"obj \(_forward_hooks\) has hooks"):
        ember.save(m, tmp_path / "h.pt")
    r = ember.load(tmp_path / "h.pt", weights_only=False)
    r(ember.ones(1, 2))
    assert calls == [] and len(r._forward_hooks) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ember.save(ember.nn.Linear(2, 2), tmp_path / "n.pt")  # no hooks: no warning


TUTORIAL = '''
import torch
from torch import nn


class TheModelClass(nn.Module):  # defined in the script itself, as tutorials do
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.out = nn.Linear(16, 5)

    def forward(self, x):
        return self.out(self.features(x).flatten(1))


net = TheModelClass()
torch.save(net, "model.pt")
again = torch.load("model.pt", weights_only=False).eval()
x = torch.randn(2, 3, 9, 9)
print("equal", torch.equal(net(x), again(x)), type(again).__name__)
try:
    torch.load("model.pt")
except Exception as e:
    print("default", type(e).__name__, "Weights only load failed" in str(e))
'''


def test_saving_and_loading_tutorial_class_in_main_under_ember_run(tmp_path):
    (tmp_path / "tutorial.py").write_text(textwrap.dedent(TUTORIAL))
    r = _ember_run(tmp_path, "tutorial.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "equal True TheModelClass" in r.stdout, r.stdout + r.stderr
    assert "default UnpicklingError True" in r.stdout, r.stdout + r.stderr
