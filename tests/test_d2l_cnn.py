"""ember.d2l, chapters 6-8: builders' guide, convolutions, LeNet, ResNet blocks, train_ch6."""
import io
import os
import re
from contextlib import redirect_stdout

import numpy as np
import pytest

import ember as torch
from ember import d2l, nn

FASHION = os.path.join(os.environ.get("EMBER_DATA", "/work/shared/data"), "FashionMNIST")


def test_corr2d_matches_the_book():
    X = d2l.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = d2l.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert d2l.corr2d(X, K).tolist() == [[19.0, 25.0], [37.0, 43.0]]
    # edge detection: a kernel [1, -1] marks the black/white borders with 1 and -1
    X = d2l.ones((6, 8))
    X[:, 2:6] = 0
    Y = d2l.corr2d(X, d2l.tensor([[1.0, -1.0]]))
    assert Y.tolist() == [[0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0]] * 6
    assert d2l.corr2d(X.t(), d2l.tensor([[1.0, -1.0]])).abs().sum().item() == 0


def test_lenet_layer_summary_prints_the_books_shapes():
    model = d2l.LeNet()
    out = io.StringIO()
    with redirect_stdout(out):
        model.layer_summary((1, 1, 28, 28))
    lines = out.getvalue().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == ["Conv2d", "Sigmoid", "AvgPool2d", "Conv2d", "Sigmoid", "AvgPool2d",
                     "Flatten", "Linear", "Sigmoid", "Linear", "Sigmoid", "Linear"]
    shapes = [tuple(int(n) for n in re.findall(r"\d+", line.split("Size")[1])) for line in lines]
    assert shapes == [(1, 6, 28, 28), (1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10),
                      (1, 16, 10, 10), (1, 16, 5, 5), (1, 400), (1, 120), (1, 120), (1, 84),
                      (1, 84), (1, 10)]
    assert lines[0].startswith("Conv2d output shape:\t ")


def test_init_cnn_uses_xavier_uniform_on_linear_and_conv_only():
    conv, lin, bn = nn.Conv2d(2, 3, 3), nn.Linear(100, 50), nn.BatchNorm2d(3)
    torch.manual_seed(0)
    for m in (conv, lin, bn):
        d2l.init_cnn(m)
    bound = (6 / (100 + 50)) ** 0.5
    assert float(lin.weight.abs().max()) <= bound
    assert float(bn.weight.min()) == 1.0


def test_residual_and_resnext_shapes():
    X = torch.randn(4, 3, 6, 6)
    assert d2l.Residual(3)(X).shape == (4, 3, 6, 6)
    assert d2l.Residual(6, use_1x1conv=True, strides=2)(X).shape == (4, 6, 3, 3)
    blk = d2l.ResNeXtBlock(32, 16, 1)
    assert blk(torch.randn(4, 32, 5, 5)).shape == (4, 32, 5, 5)
    blk = d2l.ResNeXtBlock(16, 4, 0.5, use_1x1conv=True, strides=2)
    assert blk(torch.randn(2, 8, 6, 6)).shape == (2, 16, 3, 3)


def test_resnet18_is_the_books_small_variant():
    net = d2l.resnet18(10)
    names = [name for name, _ in net.named_children()]
    assert names == ["0", "1", "2", "resnet_block1", "resnet_block2", "resnet_block3",
                     "resnet_block4", "global_avg_pool", "fc"]
    net.eval()
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert d2l.resnet18(5, in_channels=3)[0].in_channels == 3


def test_legacy_utilities():
    torch.manual_seed(0)
    w, b = d2l.tensor([2.0, -3.4]), 4.2
    X, y = d2l.synthetic_data(w, b, 100)
    assert X.shape == (100, 2) and y.shape == (100, 1)
    assert float((d2l.linreg(X, w.reshape(2, 1), b) - y).abs().max()) < 0.1
    assert d2l.squared_loss(d2l.tensor([[1.0], [3.0]]), d2l.tensor([1.0, 1.0])).tolist() == \
        [[0.0], [2.0]]
    batches = list(d2l.load_array((X, y), 32, is_train=False))
    assert [len(b[0]) for b in batches] == [32, 32, 32, 4]
    assert bool((batches[0][0] == X[:32]).all())
    p = torch.ones(2, requires_grad=True)
    (p * d2l.tensor([2.0, 4.0])).sum().backward()
    d2l.sgd([p], lr=0.5, batch_size=2)
    assert p.tolist() == [0.5, 0.0] and p.grad.tolist() == [0.0, 0.0]
    y_hat = d2l.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    assert d2l.accuracy(y_hat, d2l.tensor([0, 2])) == 1.0
    assert d2l.get_fashion_mnist_labels([0, 9]) == ["t-shirt", "ankle boot"]
    assert d2l.get_dataloader_workers() == 4
    assert d2l.try_all_gpus() == [d2l.cpu()]
    net = nn.Linear(2, 1)
    loss = d2l.evaluate_loss(net, d2l.load_array((X, y), 50), nn.MSELoss(reduction="none"))
    assert loss == pytest.approx(float(((net(X) - y) ** 2).mean()), rel=1e-5)


def _tiny_loaders(n=64, batch_size=16):
    torch.manual_seed(0)
    X = torch.randn(n, 1, 8, 8)
    y = (X.mean(dim=(1, 2, 3)) > 0).long()
    return d2l.load_array((X, y), batch_size), d2l.load_array((X, y), batch_size, False)


def test_train_ch6_and_evaluate_accuracy_gpu(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path))
    train_iter, test_iter = _tiny_loaders()
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    d2l.train_ch6(net, train_iter, test_iter, 2, 0.5, d2l.try_gpu())
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "training on cpu"
    assert re.fullmatch(r"loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}", out[1])
    assert re.fullmatch(r"[\d.]+ examples/sec on cpu", out[2])
    acc = d2l.evaluate_accuracy_gpu(net, test_iter)
    assert acc > 0.8 and not net.training
    assert any(f.endswith("-animator.png") for f in os.listdir(tmp_path))


def test_trainer_falls_back_to_the_cpu():
    trainer = d2l.Trainer(max_epochs=1, num_gpus=1)
    assert trainer.gpus == [] and trainer.num_gpus == 1
    batch = [torch.ones(2), torch.zeros(2)]
    assert trainer.prepare_batch(batch) is batch


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="needs $EMBER_DATA/FashionMNIST")
def test_lenet_learns_fashion_mnist_in_one_epoch(monkeypatch, tmp_path, capsys):
    """The LeNet section's workflow; the model is its first exercise's modernized LeNet
    (ReLU, max-pooling, Adam): the book's sigmoid LeNet needs several epochs to leave 10%."""
    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path))
    monkeypatch.setenv("EMBER_DATA", os.path.dirname(FASHION))

    class ModernLeNet(d2l.LeNet):
        def __init__(self, lr=0.1, num_classes=10):
            super().__init__(lr, num_classes)
            self.net = nn.Sequential(
                nn.LazyConv2d(6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
                nn.LazyConv2d(16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2, 2),
                nn.Flatten(), nn.LazyLinear(120), nn.ReLU(), nn.LazyLinear(84), nn.ReLU(),
                nn.LazyLinear(num_classes))

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=self.lr)

    torch.manual_seed(0)
    data = d2l.FashionMNIST(batch_size=32, num_workers=0)
    data.train = torch.utils.data.Subset(data.train, range(1920))
    data.val = torch.utils.data.Subset(data.val, range(500))
    model = ModernLeNet(lr=0.005)
    model.apply_init([next(iter(data.get_dataloader(True)))[0]], d2l.init_cnn)
    trainer = d2l.Trainer(max_epochs=1, num_gpus=1)
    trainer.fit(model, data)
    val_acc = model.board.data["val_acc"]
    assert len(val_acc) == 1 and val_acc[0].y > 0.7
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.match(r"epoch 1/1  train_loss [\d.]+  val_loss [\d.]+  val_acc [\d.]+  ", line)
    assert os.path.isfile(model.board.path)
