# Seed S3 — COSE474 "3.1 Linear Regression" (d2l-en §3.1), every listing in order.
# Written as the learner typed it, with `import torch` and `from d2l import torch as d2l`;
# run it on ember with
#     python -m ember run examples/seeds/s3_3_1_linear_regression.py
# (ember provides d2l: `python -m ember run` makes `from d2l import torch as d2l` load
# ember.d2l). Cells are separated by `# %%` (Jupytext's percent format); a cell that ended with
# a bare expression in the notebook prints it here; figures are saved as PNG files.

# %%
# pip install d2l        (the notebook's first cell; not needed on ember)

# %%
# %matplotlib inline     (a notebook magic; outside notebooks d2l.plot draws off-screen)
import math
import time
import numpy as np
import torch
from d2l import torch as d2l

# %%
n = 10000
a = torch.ones(n)
b = torch.ones(n)

# %%
print((a, b))

# %%
c = torch.zeros(n)
t = time.time()
for i in range(n):
    c[i] = a[i] + b[i]
print(f'{time.time() - t:.5f} sec')

# %%
t = time.time()
d = a + b
print(f'{time.time() - t:.5f} sec')


# %%
def normal(x, mu, sigma):
    p = 1 / math.sqrt(2 * math.pi * sigma**2)
    return p * np.exp(-0.5 * (x - mu)**2 / sigma**2)


# %%
# Use NumPy again for visualization
x = np.arange(-7, 7, 0.01)

# Mean and standard deviation pairs
params = [(0, 1), (0, 2), (3, 1)]
d2l.plot(x, [normal(x, mu, sigma) for mu, sigma in params], xlabel='x',
         ylabel='p(x)', figsize=(4.5, 2.5),
         legend=[f'mean {mu}, std {sigma}' for mu, sigma in params])
d2l.plt.savefig('s3_3_1_normal.png', bbox_inches='tight')  # shown inline in the notebook
