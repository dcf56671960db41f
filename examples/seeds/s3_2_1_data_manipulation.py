# Seed S3 — COSE474 "2.1 Data manipulation" (d2l-en §2.1), every listing in order.
# Written as the learner typed it, with `import torch`; run it on ember with
#     python -m ember run examples/seeds/s3_2_1_data_manipulation.py
# Cells are separated by `# %%` (Jupytext's percent format); a cell that ended with a bare
# expression in the notebook prints it here.

# %%
import torch

x = torch.arange(12, dtype=torch.float32)
print(x)

# %%
print(x.numel())

# %%
print(x.shape)

# %%
X = x.reshape(3, 4)
print(X)

# %%
print(torch.zeros((2, 3, 4)))

# %%
print(torch.ones((2, 3, 4)))

# %%
print(torch.randn(3, 4))

# %%
print(torch.tensor([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]]))

# %%
print((X[-1], X[1:3]))

# %%
X[1, 2] = 17
print(X)

# %%
X[:2, :] = 12
print(X)

# %%
# X is a view of x (reshape of a contiguous tensor shares its storage), so the two
# assignments above changed x too: the seed's output starts with exp(12) = 162754.7969.
print(torch.exp(x))

# %%
x = torch.tensor([1.0, 2, 4, 8])
y = torch.tensor([2, 2, 2, 2])
print((x + y, x - y, x * y, x / y, x ** y))

# %%
X = torch.arange(12, dtype=torch.float32).reshape((3, 4))
Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
print((torch.cat((X, Y), dim=0), torch.cat((X, Y), dim=1)))

# %%
print(X == Y)

# %%
print(X.sum())

# %%
a = torch.arange(3).reshape((3, 1))
b = torch.arange(2).reshape((1, 2))
print((a, b))

# %%
print(a + b)

# %%
before = id(Y)
Y = Y + X
print(id(Y) == before)

# %%
Z = torch.zeros_like(Y)
print('id(Z):', id(Z))
Z[:] = X + Y
print('id(Z):', id(Z))

# %%
before = id(X)
X += Y
print(id(X) == before)

# %%
A = X.numpy()
B = torch.from_numpy(A)
print((type(A), type(B)))

# %%
a = torch.tensor([3.5])
print((a, a.item(), float(a), int(a)))
