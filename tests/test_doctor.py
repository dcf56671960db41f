"""ember.doctor: each diagnosis fires on its seed's pattern, and healthy runs are quiet."""
import io
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
from ember import nn, optim

DATA = os.environ.get("EMBER_DATA", "/work/shared/data")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# seed S2's temperatures
T_C = [0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0]
T_U = [35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4]


@pytest.fixture(autouse=True)
def _no_doctor_left():
    yield
    ember.doctor.stop()  # a failing test must not leave its hooks on for the next
    assert ember.doctor.active() is None


def codes(doc):
    return [d.code for d in doc.diagnoses]


def s2_loop(n_epochs, lr, scale=1.0, opt_cls=optim.SGD, zero_grad=True):
    """S2's training_loop_opt on w*t_u + b, watched; returns (doctor, losses)."""
    t_c, t_u = ember.tensor(T_C), ember.tensor(T_U) * scale
    params = ember.tensor([1.0, 0.0], requires_grad=True)
    optimizer = opt_cls([params], lr=lr)
    losses = []
    with ember.doctor.watch(optimizer, stream=io.StringIO()) as doc:
        for _ in range(n_epochs):
            w, b = params
            loss = ((w * t_u + b - t_c) ** 2).mean()
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return doc, losses


def test_diverging_fires_before_the_loss_is_non_finite_and_names_a_stable_rate():
    doc, losses = s2_loop(30, 1e-2)
    first_bad = next(i for i, x in enumerate(losses, 1) if not math.isfinite(x))
    div = next(d for d in doc.diagnoses if d.code == "diverging")
    assert div.step < first_bad
    assert "x-57.8 per step" in div.message and "sign flipping" in div.message
    # lr * 2 / (1 + 57.8) = 3.4e-4: the rate below which S2's raw-input SGD is stable
    assert "below 0.00034" in div.message
    nan = next(d for d in doc.diagnoses if d.code == "nan")
    assert div.step < nan.step <= first_bad
    assert codes(doc).count("diverging") == 1  # printed once


def test_stalled_fires_on_the_small_rate():
    doc, losses = s2_loop(100, 1e-4)
    assert abs(losses[-1] - 29.0227) < 1e-3  # the seed's number: the doctor changed nothing
    stalled = [d for d in doc.diagnoses if d.code == "stalled"]
    assert stalled and stalled[0].step <= 100
    assert "0.0001" in stalled[0].message


def test_input_scale_weight_against_bias_gradient():
    doc, _ = s2_loop(5, 1e-4)
    msg = next(d.message for d in doc.diagnoses if d.code == "input-scale")
    assert "4517" in msg and "82.6" in msg and "0.1 * t_u" in msg


def test_input_scale_on_a_linear_layer_and_on_raw_features():
    ember.manual_seed(0)
    # Boston-like columns: a tax rate in the hundreds next to a concentration below 1
    X = ember.cat([ember.rand(64, 1) * 400 + 200, ember.rand(64, 1) * 0.5 + 0.3,
                   ember.rand(64, 1) * 10 + 2], dim=1)
    y = X[:, :1] * 0.01 + X[:, 1:2]
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=1e-7)
    with ember.doctor.watch(model, opt, stream=io.StringIO()) as doc:
        for _ in range(4):
            opt.zero_grad()
            nn.functional.mse_loss(model(X), y).backward()
            opt.step()
    msgs = [d.message for d in doc.diagnoses if d.code == "input-scale"]
    assert any("column 0" in m and "standardise" in m for m in msgs)
    assert any("weight (RMS per element)" in m for m in msgs)


def test_healthy_normalised_s2_runs_are_quiet():
    doc, losses = s2_loop(3000, 1e-2, scale=0.1)
    assert abs(losses[-1] - 2.9286) < 1e-3
    assert doc.diagnoses == []
    doc, losses = s2_loop(1000, 1e-1, opt_cls=optim.Adam)  # Adam on raw inputs: fine too
    assert doc.diagnoses == []


def test_grads_not_zeroed_and_deliberate_accumulation():
    doc, _ = s2_loop(20, 1e-3, scale=0.1, zero_grad=False)
    assert "grads-not-zeroed" in codes(doc)
    assert "zero_grad()" in next(d.message for d in doc.diagnoses if d.code == "grads-not-zeroed")
    # two backward passes per step, then zero_grad: accumulation on purpose, no diagnosis
    t_c, t_u = ember.tensor(T_C), ember.tensor(T_U) * 0.1
    params = ember.tensor([1.0, 0.0], requires_grad=True)
    opt = optim.SGD([params], lr=1e-2)
    with ember.doctor.watch(opt, stream=io.StringIO()) as doc:
        for _ in range(30):
            opt.zero_grad()
            for half in (slice(0, 5), slice(5, None)):
                ((params[0] * t_u[half] + params[1] - t_c[half]) ** 2).mean().backward()
            opt.step()
    assert doc.diagnoses == []


def test_manual_update_without_zeroing_is_seen_too():
    t_c, t_u = ember.tensor(T_C), ember.tensor(T_U) * 0.1
    params = ember.tensor([1.0, 0.0], requires_grad=True)
    with ember.doctor.watch(stream=io.StringIO()) as doc:  # no module, no optimizer
        for _ in range(10):
            loss = ((params[0] * t_u + params[1] - t_c) ** 2).mean()
            loss.backward()
            with ember.no_grad():
                params -= 1e-3 * params.grad
    assert "grads-not-zeroed" in codes(doc)


def _mlp(act, depth=6, width=64, n_in=64, n_out=10):
    layers, d = [], n_in
    for _ in range(depth - 1):
        layers += [nn.Linear(d, width), act()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, n_out))


def _train(model, X, y, steps=10, lr=0.1, opt_cls=optim.SGD):
    opt = opt_cls(model.parameters(), lr=lr)
    with ember.doctor.watch(model, opt, stream=io.StringIO()) as doc:
        for s in range(steps):
            i = slice((s * 32) % len(X), (s * 32) % len(X) + 32)
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[i]), y[i]).backward()
            opt.step()
    return doc


def test_vanishing_gradients_in_a_deep_sigmoid_mlp_but_not_with_relu():
    ember.manual_seed(0)
    X, y = ember.rand(128, 64), ember.randint(0, 10, (128,))
    doc = _train(_mlp(nn.Sigmoid), X, y)
    msg = next(d.message for d in doc.diagnoses if d.code == "vanishing-gradients")
    assert "Sigmoid" in msg and "ReLU" in msg
    ember.manual_seed(0)
    assert _train(_mlp(nn.ReLU), X, y).diagnoses == []


def test_dead_relu():
    ember.manual_seed(0)
    X, y = ember.rand(128, 64), ember.randint(0, 10, (128,))
    model = _mlp(nn.ReLU, depth=3)
    with ember.no_grad():
        model[0].bias.fill_(-10.0)  # initialised to die: every pre-activation is negative
    doc = _train(model, X, y, steps=25)
    msg = next(d.message for d in doc.diagnoses if d.code == "dead-relu")
    assert msg.startswith("100% of the 64 units") and "LeakyReLU" in msg


class _FunctionalReluNet(nn.Module):
    """pytorch/examples' style: F.relu inside forward, no nn.ReLU module to hook."""

    def __init__(self, use_torch_relu=False):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 10)
        self.use_torch_relu = use_torch_relu

    def forward(self, x):
        act = ember.relu if self.use_torch_relu else nn.functional.relu
        return self.fc3(act(self.fc2(act(self.fc1(x)))))


@pytest.mark.parametrize("use_torch_relu", [False, True])
def test_dead_relu_through_functional_relu(use_torch_relu):
    ember.manual_seed(0)
    X, y = ember.rand(128, 64), ember.randint(0, 10, (128,))
    model = _FunctionalReluNet(use_torch_relu)
    with ember.no_grad():
        model.fc1.bias.fill_(-10.0)
    doc = _train(model, X, y, steps=25)
    msg = next(d.message for d in doc.diagnoses if d.code == "dead-relu")
    assert msg.startswith("100% of the 64 units after relu in ") and "LeakyReLU" in msg
    # the functions are restored when the watch ends
    assert nn.functional.relu.__name__ == "relu" and not hasattr(nn.functional.relu, "_doctor")
    assert not hasattr(ember.relu, "_doctor")
    healthy = _train(_FunctionalReluNet(use_torch_relu), X, y, steps=25)
    assert "dead-relu" not in codes(healthy)


def _mnist(n_train=1000, n_test=500):
    """S1's data: ToTensor() training images in [0, 1] and the raw 0-255 test images."""
    try:
        from ember.vision import datasets
        train = datasets.MNIST(DATA, train=True, download=False)
        test = datasets.MNIST(DATA, train=False, download=False)
        X = train.data[:n_train].reshape(-1, 784).float() / 255
        return X, train.targets[:n_train], test.data[:n_test].reshape(-1, 784).float(), \
            test.targets[:n_test]
    except (RuntimeError, OSError):  # no MNIST here: sparse images of the same scale
        g = np.random.default_rng(0)
        n = n_train + n_test
        img = (g.random((n, 784)) < 0.2) * g.integers(1, 256, (n, 784))
        Y = ember.tensor(g.integers(0, 10, n_train + n_test))
        X = ember.tensor(img.astype(np.float32))
        return X[:n_train] / 255, Y[:n_train], X[n_train:], Y[n_train:]


def _s1(leak, raw, epochs=2, everything=False):
    X, Y, X_test, Y_test = _mnist()
    ember.manual_seed(777)
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(784, 256), relu, nn.Linear(256, 256), relu, nn.Linear(256, 10))
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    loader = ember.utils.data.DataLoader(ember.utils.data.TensorDataset(X, Y), batch_size=100,
                                         shuffle=True, drop_last=True)
    total_batch = len(loader)
    doc = ember.doctor.watch(*(() if everything else (model, optimizer)), stream=io.StringIO())
    with doc:
        for epoch in range(epochs):
            avg_cost = 0
            for X_b, Y_b in loader:
                optimizer.zero_grad()
                cost = criterion(model(X_b), Y_b)
                cost.backward()
                optimizer.step()
                if leak:
                    avg_cost += cost / total_batch  # as typed in S1
                else:
                    avg_cost += cost.item() / total_batch
        with ember.no_grad():
            prediction = model(X_test if raw else X_test / 255)
            accuracy = (ember.argmax(prediction, 1) == Y_test).float().mean().item()
    return doc, model, accuracy


def test_s1_graph_leak_and_raw_test_pixels():
    doc, _, _ = _s1(leak=True, raw=True)
    leak = next(d for d in doc.diagnoses if d.code == "graph-leak")
    assert "`avg_cost` holds them" in leak.message and "cost.item()" in leak.message
    assert leak.step <= 12  # found within the first epoch (10 steps)
    drift = next(d.message for d in doc.diagnoses if d.code == "eval-input-drift")
    assert "divide them by 255" in drift


def test_s1_corrected_is_quiet_and_unchanged_by_the_doctor():
    doc, model, acc = _s1(leak=False, raw=False, everything=True)
    assert doc.diagnoses == [] and doc.step == 20 and doc.updates == 20
    assert acc > 0.5
    # the same run without the doctor: bit-identical weights
    X, Y, _, _ = _mnist()
    ember.manual_seed(777)
    relu = nn.ReLU()
    plain = nn.Sequential(nn.Linear(784, 256), relu, nn.Linear(256, 256), relu, nn.Linear(256, 10))
    optimizer = optim.Adam(plain.parameters(), lr=1e-3)
    loader = ember.utils.data.DataLoader(ember.utils.data.TensorDataset(X, Y), batch_size=100,
                                         shuffle=True, drop_last=True)
    for _ in range(2):
        for X_b, Y_b in loader:
            optimizer.zero_grad()
            nn.CrossEntropyLoss()(plain(X_b), Y_b).backward()
            optimizer.step()
    for a, b in zip(model.parameters(), plain.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_demo_model_for_a_few_hundred_steps_is_quiet():
    X, Y, _, _ = _mnist(n_train=3200)
    ember.manual_seed(777)
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(784, 256), relu, nn.Linear(256, 256), relu, nn.Linear(256, 10))
    doc = _train(model, X, Y, steps=300, lr=1e-3, opt_cls=optim.Adam)
    assert doc.diagnoses == [] and doc.step == 300


def test_eval_mode_with_dropout_left_on():
    ember.manual_seed(0)
    X, y = ember.rand(64, 16), ember.randint(0, 3, (64,))
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    with ember.doctor.watch(model, opt, stream=io.StringIO()) as doc:
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        model.eval()
        with ember.no_grad():
            model(X)  # right: no diagnosis
        assert doc.diagnoses == []
        model.train()
        with ember.no_grad():
            model(X)  # dropout still on
    msg = next(d.message for d in doc.diagnoses if d.code == "eval-mode")
    assert "2 (Dropout)" in msg and "model.eval()" in msg


def test_softmax_into_cross_entropy():
    ember.manual_seed(0)
    X, y = ember.rand(32, 8), ember.randint(0, 4, (32,))
    model = nn.Sequential(nn.Linear(8, 4), nn.Softmax(dim=1))
    criterion = nn.CrossEntropyLoss()
    before = nn.functional.cross_entropy
    with ember.doctor.watch(model, stream=io.StringIO()) as doc:
        criterion(model(X), y).backward()
        nn.functional.cross_entropy(model[0](X), y)  # logits: fine
    assert codes(doc) == ["softmax-into-cross-entropy"]
    assert "SoftmaxBackward0" in doc.diagnoses[0].message
    assert nn.functional.cross_entropy is before  # put back when the watch ends


def test_d2l_trainer_reports_the_hook_typo_and_is_quiet_when_healthy(capsys):
    from ember import d2l
    ember.manual_seed(0)
    data = d2l.SyntheticRegressionData(w=ember.tensor([2.0, -3.4]), b=4.2, num_train=200,
                                       num_val=100)
    with pytest.warns(UserWarning, match="validation_dtep"):
        class Typo(d2l.LinearRegression):
            def validation_dtep(self, batch):
                pass

    d2l.Trainer(max_epochs=2, quiet=True).fit(d2l.LinearRegression(lr=0.03), data)
    err = capsys.readouterr().err
    assert "ember doctor" not in err  # a healthy run prints nothing
    d2l.Trainer(max_epochs=1, quiet=True).fit(Typo(lr=0.03), data)
    err = capsys.readouterr().err
    assert "ember doctor: hook-typo: Typo.validation_dtep" in err and "'validation_step'" in err
    d2l.Trainer(max_epochs=1, quiet=True, doctor=False).fit(Typo(lr=0.03), data)
    assert "ember doctor" not in capsys.readouterr().err


def test_plain_call_nesting_plot_and_summary(tmp_path):
    out = io.StringIO()
    doc = ember.doctor.watch(stream=out)  # stays on until stop()
    model = nn.Linear(2, 1)
    with ember.doctor.watch(model) as inner:  # joins the running doctor
        assert inner is doc
        nn.functional.mse_loss(model(ember.ones(4, 2)), ember.zeros(4, 1)).backward()
    assert ember.doctor.active() is doc
    assert ember.doctor.stop() is doc and ember.doctor.active() is None
    assert "summary: 1 backward passes" in out.getvalue() and "no problems found" in out.getvalue()
    pytest.importorskip("matplotlib")
    doc, _ = s2_loop(12, 1e-2)
    path = doc.plot(str(tmp_path / "doctor.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_doctor_on_a_pathological_script(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text(textwrap.dedent("""
        import torch
        t_c = torch.tensor([0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0])
        t_u = torch.tensor([35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4])
        params = torch.tensor([1.0, 0.0], requires_grad=True)
        optimizer = torch.optim.SGD([params], lr=1e-2)
        for epoch in range(15):
            loss = ((params[0] * t_u + params[1] - t_c) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print('done')
    """))
    proc = subprocess.run([sys.executable, "-m", "ember", "run", "--doctor", str(script)],
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("ember doctor: ")]
    assert any(ln.startswith("ember doctor: diverging: ") for ln in lines)
    assert lines[-1].startswith("ember doctor: summary: 15 backward passes")


def test_hook_typo_when_the_class_is_defined_under_the_doctor():
    from ember import d2l
    with (ember.doctor.watch(stream=io.StringIO()) as doc,
          pytest.warns(UserWarning, match="validation_dtep")):
        class Classifier(d2l.Module):  # S3's listing, as typed
            def validation_dtep(self, batch):
                pass
    assert codes(doc) == ["hook-typo"]
    assert doc.diagnoses[0].message.startswith("Classifier.validation_dtep is one typo away")


def test_nan_names_the_module_where_it_first_appears():
    class Log(nn.Module):
        def forward(self, x):
            return ember.log(x)  # nan for the negative inputs

    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), Log(), nn.Linear(4, 1))
    with ember.doctor.watch(model, stream=io.StringIO()) as doc:
        nn.functional.mse_loss(model(ember.randn(8, 4)), ember.zeros(8, 1)).backward()
    assert codes(doc) == ["nan"]
    assert "the loss is nan at step 1; it first appears in the output of 1 (Log)" in \
        doc.diagnoses[0].message


def test_nan_in_the_loss_names_the_op():
    ember.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = ember.randn(8, 3), ember.randn(8, 1)
    with ember.doctor.watch(model, stream=io.StringIO()) as doc:
        (ember.log(model(x) - 100) - y).pow(2).mean().backward()  # log of negatives: nan
    assert codes(doc) == ["nan"]
    msg = doc.diagnoses[0].message
    assert "the model's outputs were finite, so it arises in the loss" in msg
    assert "LogBackward0" in msg  # the op, not only the loss's last node
    with ember.doctor.watch(model, stream=io.StringIO()) as doc:
        ember.sqrt(model(x) - 100).sum().backward()  # sqrt saves its (nan) result
    assert "so it arises in the loss, at SqrtBackward0;" in doc.diagnoses[0].message


def test_a_new_model_in_the_same_program_starts_a_new_run():
    # S2 as a script under `ember run --doctor`: one backward on the raw inputs, then a fresh
    # `params` trained on t_un by hand. The first tensor's stale gradient must not make the
    # second run look stalled.
    t_c, t_u = ember.tensor(T_C), ember.tensor(T_U)
    with ember.doctor.watch(stream=io.StringIO()) as doc:
        params = ember.tensor([1.0, 0.0], requires_grad=True)
        ((params[0] * t_u + params[1] - t_c) ** 2).mean().backward()
        params = ember.tensor([1.0, 0.0], requires_grad=True)
        for _ in range(2000):
            if params.grad is not None:
                params.grad.zero_()
            loss = ((params[0] * t_u * 0.1 + params[1] - t_c) ** 2).mean()
            loss.backward()
            with ember.no_grad():
                params -= 1e-2 * params.grad
    assert doc.diagnoses == [] and doc.step == 2001
