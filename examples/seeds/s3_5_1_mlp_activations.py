# Seed S3 — COSE474 "5.1 Multilayer Perceptrons" (d2l-en §5.1), every listing in order.
# Written as the learner typed it, with `import torch` and `from d2l import torch as d2l`;
# run it on ember with
#     python -m ember run examples/seeds/s3_5_1_mlp_activations.py
# Cells are separated by `# %%` (Jupytext's percent format); each figure the notebook showed
# inline is saved as a PNG file.

# %%
# %matplotlib inline     (a notebook magic; outside notebooks d2l.plot draws off-screen)
import torch
from d2l import torch as d2l

# %%
x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
y = torch.relu(x)
d2l.plot(x.detach(), y.detach(), 'x', 'relu(x)', figsize=(5, 2.5))
d2l.plt.savefig('s3_5_1_relu.png', bbox_inches='tight')

# %%
y.backward(torch.ones_like(x), retain_graph=True)
d2l.plot(x.detach(), x.grad, 'x', 'grad of relu', figsize=(5, 2.5))
d2l.plt.savefig('s3_5_1_relu_grad.png', bbox_inches='tight')

# %%
pReLU = lambda x, a: torch.max(torch.tensor(0), x) + a * torch.min(torch.tensor(0), x)

# %%
y = pReLU(x=x, a=0.1)
d2l.plot(x.detach(), y.detach(), 'x', 'pReLU(x)', figsize=(5, 2.5))
d2l.plt.savefig('s3_5_1_prelu.png', bbox_inches='tight')

# %%
x.grad.data.zero_()
y.backward(torch.ones_like(x), retain_graph=True)
d2l.plot(x.detach(), x.grad, 'x', 'grad of pReLU', figsize=(5, 2.5))
d2l.plt.savefig('s3_5_1_prelu_grad.png', bbox_inches='tight')

# %%
y = torch.sigmoid(x)
d2l.plot(x.detach(), y.detach(), 'x', 'sigmoid(x)', figsize=(5, 2.5))
d2l.plt.savefig('s3_5_1_sigmoid.png', bbox_inches='tight')

# %%
x.grad.data.zero_()
y.backward(torch.ones_like(x), retain_graph=True)
d2l.plot(x.detach(), x.grad, 'x', 'grad of sigmoid', figsize=(5, 2.5))
d2l.plt.savefig('s3_5_1_sigmoid_grad.png', bbox_inches='tight')

# %%
y = torch.tanh(x)
d2l.plot(x.detach(), y.detach(), 'x', 'tanh(x)', figsize=(5, 2.5))
d2l.plt.savefig('s3_5_1_tanh.png', bbox_inches='tight')
