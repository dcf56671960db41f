# Seed S3 — COSE474 "2.5 Automatic Differentiation" (d2l-en §2.5), every listing in order.
# Written as the learner typed it, with `import torch`; run it on ember with
#     python -m ember run examples/seeds/s3_2_5_autograd.py
# Cells are separated by `# %%` (Jupytext's percent format); a cell that ended with a bare
# expression in the notebook prints it here.

# %%
import torch

x = torch.arange(4.0)
print(x)

# %%
# Can also create x = torch.arange(4.0, requires_grad=True)
x.requires_grad_(True)
print(x.grad)  # The gradient is None by default

# %%
y = 2 * torch.dot(x, x)
print(y)

# %%
y.backward()
print(x.grad)

# %%
print(x.grad == 4 * x)

# %%
x.grad.zero_()  # Reset the gradient
y = x.sum()
y.backward()
print(x.grad)

# %%
x.grad.zero_()
y = x * x
y.backward(gradient=torch.ones(len(y)))  # Faster: y.sum().backward()
print(x.grad)

# %%
x.grad.zero_()
y = x * x
u = y.detach()
z = u * x

z.sum().backward()
print(x.grad == u)

# %%
x.grad.zero_()
y.sum().backward()
print(x.grad == 2 * x)


# %%
def f(a):
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


# %%
a = torch.randn(size=(), requires_grad=True)
d = f(a)
d.backward()

# %%
# d = k*a with k = 2**n (a > 0) or 100 * 2**n (a < 0), so a.grad is k. The seed printed
# tensor(True); for a < 0, `100 * b` is rounded to float32, and (k*a)/a then differs from k
# by one ulp for about one a in eight, on PyTorch as on ember, printing tensor(False).
print(a.grad == d / a)
