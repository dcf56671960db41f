"""ember.onnx.export: models exported, checked, run in onnxruntime and compared with ember."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _session(src):
    data = src.SerializeToString() if hasattr(src, "SerializeToString") else src
    if isinstance(src, (str, os.PathLike)):
        data = open(src, "rb").read()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _check(model, sess, feeds, atol=1e-5):
    """onnxruntime's outputs against ember's, for the same inputs."""
    with ember.no_grad():
        want = model(*[ember.tensor(v) for v in feeds.values()])
    want = want if isinstance(want, (tuple, list)) else (want,)
    got = sess.run(None, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == tuple(w.shape) and g.dtype == w.numpy().dtype
        np.testing.assert_allclose(g, w.numpy(), atol=atol, rtol=1e-5)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Dropout(0.5),
                                 nn.Linear(16, 16), nn.LeakyReLU(0.1), nn.Linear(16, 5))

    def forward(self, x):
        return F.log_softmax(self.net(x), dim=1)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6)
        self.p1 = nn.MaxPool2d(2)
        self.c2, self.b2 = nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16)
        self.p2 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.f1, self.bn = nn.Linear(16 * 5 * 5, 32), nn.BatchNorm1d(32)
        self.f2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.p1(F.relu(self.b1(self.c1(x))))
        x = self.p2(ember.sigmoid(self.b2(self.c2(x))))
        x = x.view(x.size(0), -1)
        return self.f2(nn.functional.gelu(self.bn(self.f1(x))))


class Attention(nn.Module):
    def __init__(self, vocab=20, d=8):
        super().__init__()
        self.emb, self.ln = nn.Embedding(vocab, d), nn.LayerNorm(d)
        self.q, self.k, self.out = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(2 * d, 3)
        self.scale = d ** -0.5

    def forward(self, tokens):
        h = self.ln(self.emb(tokens))
        att = ember.softmax(self.q(h) @ self.k(h).transpose(1, 2) * self.scale, dim=-1)
        h = ember.matmul(att, h) + h
        h = ember.cat([h, h.permute(0, 1, 2) - 1.0], dim=-1)
        b, t, d = h.shape
        return self.out(h.reshape(b * t, d)).reshape(b, t, 3).softmax(-1)


def _trained_batchnorm(model, shape):
    for _ in range(3):  # running statistics that differ from the initial 0 and 1
        model(ember.randn(*shape) * 2 + 1)
    return model.eval()


def test_mlp_to_path_with_dynamic_batch(tmp_path):
    ember.manual_seed(0)
    model = MLP()
    path = tmp_path / "mlp.onnx"
    prog = ember.onnx.export(model, (ember.randn(4, 3, 4),), str(path), input_names=["x"],
                             output_names=["logp"],
                             dynamic_axes={"x": {0: "batch"}, "logp": {0: "batch"}})
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert prog.model_proto == proto
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 4]
    # the parameters are initializers under their state_dict names
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    for name, p in model.state_dict().items():
        np.testing.assert_array_equal(inits[name], p.numpy())
    assert model.training  # exported in eval mode, then the mode is restored
    sess = _session(path)
    assert [o.name for o in sess.get_outputs()] == ["logp"]
    model.eval()
    for batch in (4, 1, 9):
        _check(model, sess, {"x": np.random.rand(batch, 3, 4).astype(np.float32)})


def test_lenet_with_batchnorm_to_file_object():
    ember.manual_seed(1)
    model = _trained_batchnorm(LeNet(), (8, 1, 28, 28))
    buf = io.BytesIO()
    ember.onnx.export(model, ember.randn(2, 1, 28, 28), buf, dynamic_axes={"x": [0]})
    proto = onnx.load_from_string(buf.getvalue())
    ops = [n.op_type for n in proto.graph.node]
    for op in ("Conv", "BatchNormalization", "MaxPool", "AveragePool", "Reshape", "Gemm"):
        assert op in ops
    sess = _session(buf.getvalue())
    for batch in (2, 5):
        _check(model, sess, {"x": np.random.randn(batch, 1, 28, 28).astype(np.float32)})


def test_embedding_layernorm_attention_with_dynamic_batch_and_length(tmp_path):
    ember.manual_seed(2)
    model = Attention()
    prog = ember.onnx.export(model, (ember.randint(0, 20, (2, 5)),),
                             input_names=["tokens"],
                             dynamic_axes={"tokens": {0: "batch", 1: "time"},
                                           "output": {0: "batch", 1: "time"}})
    sess = _session(prog.model_proto)
    for shape in ((2, 5), (3, 7), (1, 1)):
        _check(model, sess, {"tokens": np.random.randint(0, 20, shape)})
    old = ember.onnx.export(model, (ember.randint(0, 20, (2, 5)),), opset_version=14,
                            input_names=["tokens"], dynamic_axes={"tokens": [0, 1]})
    _check(model, _session(old.model_proto), {"tokens": np.random.randint(0, 20, (3, 4))})
    prog.save(tmp_path / "att.onnx")
    assert onnx.load(str(tmp_path / "att.onnx")) == prog.model_proto


def test_more_layers_and_opsets():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv1d(2, 4, 3, padding="same")
            self.bn = nn.BatchNorm1d(4)
            self.mp = nn.MaxPool1d(2)
            self.ap = nn.AdaptiveAvgPool1d(1)
            self.c2 = nn.Conv2d(1, 4, 3, stride=2, padding=1, bias=False)
            self.gap = nn.AdaptiveAvgPool2d((1, 1))
            self.ln = nn.LayerNorm([4], elementwise_affine=False)
            self.act = nn.GELU(approximate="tanh")

        def forward(self, x, img):
            a = self.ap(self.mp(self.act(self.bn(self.c(x))))).flatten(1)
            b = self.gap(self.c2(img)).squeeze(-1).squeeze(-1)
            y = self.ln(a) / 2 + b.t().T
            pooled = y.mean(1, keepdim=True) + ember.sum(y, dim=(0,)) - y.sum() / 10
            return nn.Softmax(dim=1)(pooled), ember.relu(y - 0.1).unsqueeze(1)

    ember.manual_seed(3)
    model = Net()
    model.bn.running_mean.fill_(0.3)
    model.eval()
    inputs = (ember.randn(3, 2, 8), ember.randn(3, 1, 6, 6))
    for opset in (13, 17, 18, 20):
        prog = ember.onnx.export(model, inputs, opset_version=opset, dynamic_axes={"x": [0],
                                                                                   "img": [0]})
        assert prog.model_proto.opset_import[0].version == opset
        _check(model, _session(prog.model_proto),
               {"x": np.random.randn(5, 2, 8).astype(np.float32),
                "img": np.random.randn(5, 1, 6, 6).astype(np.float32)})


def test_basic_indexing_and_more_activations():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.acts = nn.Sequential(nn.ELU(0.5), nn.SiLU(), nn.ReLU6(), nn.Hardtanh(-2, 2))

        def forward(self, x):  # x: (batch, time, 6)
            last = x[:, -1]  # the last step, whatever the length
            mid = x[..., 1:5:2][:, None, 0]
            return self.acts(last * 4), mid.squeeze(1) + x[0, :2, -3:-1].sum()

    model = Net()
    prog = ember.onnx.export(model, ember.randn(2, 3, 6),
                             dynamic_axes={"x": {0: "batch", 1: "time"}})
    sess = _session(prog.model_proto)
    for shape in ((2, 3, 6), (4, 7, 6)):
        _check(model, sess, {"x": np.random.randn(*shape).astype(np.float32)})
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match="advanced indexing"):
        ember.onnx.export(_Gather(), ember.randn(3, 2))


class _Gather(nn.Module):
    def forward(self, x):
        return x[ember.tensor([0, 2])]


def test_unsupported_op_and_module_are_named(tmp_path):
    class UsesExpm1(nn.Module):
        def forward(self, x):
            return x.expm1()

    class UsesLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 4)

        def forward(self, x):
            return self.rnn(x)[0]

    class ReadsValues(nn.Module):
        def forward(self, x):
            return x * x.sum().item()

    path = tmp_path / "bad.onnx"
    before = dict(vars(ember.Tensor)), dict(vars(ember)), dict(vars(F)), dict(vars(nn.Module))
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match="Tensor.expm1"):
        ember.onnx.export(UsesExpm1(), ember.randn(2, 3), path)
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match="module LSTM"):
        ember.onnx.export(UsesLSTM(), ember.randn(5, 2, 3), path)
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match="Tensor.item reads the values"):
        ember.onnx.export(ReadsValues(), ember.randn(2, 3), path)
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match=r"return_indices=True"):
        ember.onnx.export(nn.MaxPool2d(2, return_indices=True), ember.randn(1, 1, 4, 4), path)
    assert os.listdir(tmp_path) == []  # nothing written, no temporary file left
    # every wrapper is gone: ember runs as before
    after = dict(vars(ember.Tensor)), dict(vars(ember)), dict(vars(F)), dict(vars(nn.Module))
    for b, a in zip(before, after):
        assert all(a[k] is v for k, v in b.items())
    assert not ember.onnx.is_in_onnx_export()


def test_sizes_read_from_shape_follow_dynamic_axes():
    class MergeSplit(nn.Module):
        def forward(self, x):
            b, t, d = x.shape
            y = x.reshape(b * t, d).relu().reshape(b, t, d) * 2
            return y.view(x.size(0), x.size(1) // 1, 2, -1).sum(2)

    model = MergeSplit()
    prog = ember.onnx.export(model, ember.randn(2, 3, 4), dynamic_axes={"x": [0, 1]})
    sess = _session(prog.model_proto)
    for shape in ((2, 3, 4), (5, 1, 4), (1, 6, 4)):
        _check(model, sess, {"x": np.random.randn(*shape).astype(np.float32)})


def test_a_size_frozen_into_a_constant_is_refused():
    class Frozen(nn.Module):
        def forward(self, x):
            return x + ember.ones(x.shape[1], 1)  # a constant as long as the export's x

    x = ember.randn(2, 3, 4)
    prog = ember.onnx.export(Frozen(), x, dynamic_axes={"x": [0]})  # fine: t is fixed
    _check(Frozen(), _session(prog.model_proto),
           {"x": np.random.randn(5, 3, 4).astype(np.float32)})
    with pytest.raises(ember.onnx.OnnxExporterError, match="Add node"):
        ember.onnx.export(Frozen(), x, dynamic_axes={"x": [0, 1]})


def test_a_value_computed_outside_recorded_ops_is_refused():
    class Sneaky(nn.Module):
        def forward(self, x):
            # the numbers leave ember's ops: the exporter would freeze them as a constant
            return x + ember.tensor(np.asarray(x.detach()._data) * 2)

    with pytest.raises(ember.onnx.OnnxExporterError, match="changes with the input"):
        ember.onnx.export(Sneaky(), ember.randn(2, 3))


def test_constants_and_parameters_used_directly():
    class Direct(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(ember.randn(3, 2))
            self.register_buffer("shift", ember.ones(2))
            self.mask = ember.tensor([1.0, 0.0])

        def forward(self, x):
            y = ember.matmul(x, self.w) + self.shift
            return 1 - (y * self.mask - ember.ones(2)) / 3

    model = Direct()
    prog = ember.onnx.export(model, ember.randn(4, 3), export_params=True)
    names = {i.name for i in prog.model_proto.graph.initializer}
    assert {"w", "shift"} <= names
    _check(model, _session(prog.model_proto), {"x": np.random.randn(4, 3).astype(np.float32)})
    # export_params=False: parameters become inputs, given at run time
    noparams = ember.onnx.export(model, ember.randn(4, 3), export_params=False)
    inputs = [i.name for i in noparams.model_proto.graph.input]
    assert inputs[0] == "x" and {"w", "shift"} <= set(inputs)


def test_keyword_inputs_and_initializers_as_inputs():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x, scale=None, shift=0.0):
            return self.lin(x) * scale + shift

    model = TwoInputs()
    x, scale = ember.randn(4, 3), ember.rand(4, 2)
    prog = ember.onnx.export(model, (x, {"scale": scale}), kwargs={"shift": 0.5},
                             keep_initializers_as_inputs=True)
    names = [i.name for i in prog.model_proto.graph.input]
    assert names[:2] == ["x", "scale"] and {"lin.weight", "lin.bias"} <= set(names)
    got = _session(prog.model_proto).run(None, {"x": x.numpy(), "scale": scale.numpy()})[0]
    np.testing.assert_allclose(got, model(x, scale, 0.5).detach().numpy(), atol=1e-6)


def test_is_in_onnx_export_and_argument_errors(tmp_path):
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(ember.onnx.is_in_onnx_export())
            return x.relu()

    assert ember.onnx.export(Probe(), ember.randn(2), tmp_path / "p.onnx", dynamo=False) is None
    assert seen[0] is True and not ember.onnx.is_in_onnx_export()
    with pytest.warns(UserWarning, match="opset 13"):
        old = ember.onnx.export(Probe(), ember.randn(2), opset_version=11)
    assert old.model_proto.opset_import[0].version == 13
    with pytest.raises(ValueError, match="opset_version=99"):
        ember.onnx.export(Probe(), ember.randn(2), opset_version=99)
    with pytest.raises(ValueError, match="dynamic_axes"):
        ember.onnx.export(Probe(), ember.randn(2), dynamic_axes={"nope": [0]})
    with pytest.raises(TypeError, match="nn.Module"):
        ember.onnx.export(lambda x: x, ember.randn(2))
    with pytest.raises(TypeError, match="path or a binary file"):
        ember.onnx.export(Probe(), ember.randn(2), 3)


def test_export_without_onnx_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'ember\[onnx\]'"):
        ember.onnx.export(nn.ReLU(), ember.randn(2))
