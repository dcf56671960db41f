# Seed S3 — COSE474 "5.2 Implementation of Multilayer Perceptrons" (d2l-en §5.2), every listing
# in order. Written as the learner typed it, with `import torch`, `from torch import nn` and
# `from d2l import torch as d2l`; run it on ember with
#     EMBER_DATA=/path/to/data python -m ember run examples/seeds/s3_5_2_mlp_implementation.py
# ember's d2l.FashionMNIST reads $EMBER_DATA/FashionMNIST/raw. SEED_EPOCHS=n trains n epochs
# instead of the seed's 10. Cells are separated by `# %%` (Jupytext's percent format); the
# training curves go to figures/progress.png.

# %%
import os

EPOCHS = int(os.environ.get('SEED_EPOCHS', '10'))

# %%
import torch
from torch import nn
from d2l import torch as d2l


class MLPScratch(d2l.Classifier):
    def __init__(self, num_inputs, num_outputs, num_hiddens, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens) * sigma)
        self.b1 = nn.Parameter(torch.zeros(num_hiddens))
        # As typed: W2 should be (num_hiddens, num_outputs); see the training cell below.
        self.W2 = nn.Parameter(torch.randn(num_inputs, num_outputs) * sigma)
        self.b2 = nn.Parameter(torch.zeros(num_outputs))


# %%
def relu(X):
    a = torch.zeros_like(X)
    return torch.max(X, a)


# %%
@d2l.add_to_class(MLPScratch)
def forward(self, X):
    X = X.reshape((-1, self.num_inputs))
    H = relu(torch.matmul(X, self.W1) + self.b1)
    return torch.matmul(H, self.W2) + self.b2


# %%
model = MLPScratch(num_inputs=784, num_outputs=10, num_hiddens=256, lr=0.1)
data = d2l.FashionMNIST(batch_size=256)
trainer = d2l.Trainer(max_epochs=EPOCHS)
# With W2 of shape (784, 10) the second matmul gets H of shape (256, 256): the first batch
# stops with PyTorch's error, "mat1 and mat2 shapes cannot be multiplied (256x256 and 784x10)".
try:
    trainer.fit(model, data)
except RuntimeError as e:
    print(e)


# %%
# Corrected: W2 maps the hidden layer to the outputs. (The `forward` cell is run again because
# add_to_class attached it to the class object defined above.)
class MLPScratch(d2l.Classifier):
    def __init__(self, num_inputs, num_outputs, num_hiddens, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens) * sigma)
        self.b1 = nn.Parameter(torch.zeros(num_hiddens))
        self.W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs) * sigma)
        self.b2 = nn.Parameter(torch.zeros(num_outputs))


@d2l.add_to_class(MLPScratch)
def forward(self, X):
    X = X.reshape((-1, self.num_inputs))
    H = relu(torch.matmul(X, self.W1) + self.b1)
    return torch.matmul(H, self.W2) + self.b2


model = MLPScratch(num_inputs=784, num_outputs=10, num_hiddens=256, lr=0.1)
trainer.fit(model, data)


# %%
# The seed explains this model layer by layer (Flatten, LazyLinear(num_hiddens), ReLU,
# LazyLinear(num_outputs)) but its class cell did not survive; this is d2l-en §5.2.2's.
class MLP(d2l.Classifier):
    def __init__(self, num_outputs, num_hiddens, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_hiddens),
                                 nn.ReLU(), nn.LazyLinear(num_outputs))


# %%
model = MLP(num_outputs=10, num_hiddens=256, lr=0.1)
trainer.fit(model, data)
