# Seed S3 — COSE474 "4.4 Softmax Regression Implementation from Scratch" (d2l-en §4.4), every
# listing in order. Written as the learner typed it, with `import torch` and
# `from d2l import torch as d2l`; run it on ember with
#     EMBER_DATA=/path/to/data python -m ember run \
#         examples/seeds/s3_4_4_softmax_regression_scratch.py
# ember's d2l.FashionMNIST reads $EMBER_DATA/FashionMNIST/raw (d2l's '../data' is used, and
# downloaded into, only without EMBER_DATA). SEED_EPOCHS=n trains n epochs instead of the
# seed's 10. Cells are separated by `# %%` (Jupytext's percent format); a cell that ended with
# a bare expression in the notebook prints it here; figures are saved as PNG files.

# %%
import os

EPOCHS = int(os.environ.get('SEED_EPOCHS', '10'))

# %%
import torch
from d2l import torch as d2l

X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print((X.sum(0, keepdims=True), X.sum(1, keepdims=True)))


# %%
def softmax(X):
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdims=True)
    return X_exp / partition  # The broadcasting mechanism is applied here


# %%
X = torch.rand((2, 5))
X_prob = softmax(X)
print((X_prob, X_prob.sum(1)))


# %%
class SoftmaxRegressionScratch(d2l.Classifier):
    def __init__(self, num_inputs, num_outputs, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.W = torch.normal(0, sigma, size=(num_inputs, num_outputs),
                              requires_grad=True)
        self.b = torch.zeros(num_outputs, requires_grad=True)

    def parameters(self):
        return [self.W, self.b]


# %%
@d2l.add_to_class(SoftmaxRegressionScratch)
def forward(self, X):
    X = X.reshape((-1, self.W.shape[0]))
    return softmax(torch.matmul(X, self.W) + self.b)


# %%
y = torch.tensor([0, 2])
y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
print(y_hat[[0, 1], y])


# %%
def cross_entropy(y_hat, y):
    return -torch.log(y_hat[list(range(len(y_hat))), y]).mean()


print(cross_entropy(y_hat, y))


# %%
@d2l.add_to_class(SoftmaxRegressionScratch)
def loss(self, y_hat, y):
    return cross_entropy(y_hat, y)


# %%
data = d2l.FashionMNIST(batch_size=256)
model = SoftmaxRegressionScratch(num_inputs=784, num_outputs=10, lr=0.1)
trainer = d2l.Trainer(max_epochs=EPOCHS)
trainer.fit(model, data)

# %%
X, y = next(iter(data.val_dataloader()))
preds = model(X).argmax(axis=1)
print(preds.shape)

# %%
wrong = preds.type(y.dtype) != y
X, y, preds = X[wrong], y[wrong], preds[wrong]
labels = [a+'\n'+b for a, b in zip(
    data.text_labels(y), data.text_labels(preds))]
data.visualize([X, y], labels=labels)
d2l.plt.savefig('s3_4_4_wrong.png', bbox_inches='tight')  # shown inline in the notebook
