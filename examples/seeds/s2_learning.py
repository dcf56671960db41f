# Seed S2 — "PyTorch-1: 학습 기법" (the temperature problem), every listing in order.
# Written as the learner typed it, with `import torch`; run it on ember with
#     python -m ember run examples/seeds/s2_learning.py
# Cells are separated by `# %%` (Jupytext's percent format); a cell that ended with a bare
# expression in the notebook prints it here.

# %%
import torch
import numpy as np

# %%
t_c = [0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0]
t_u = [35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4]
t_c = torch.tensor(t_c)
t_u = torch.tensor(t_u)


# %%
def model(t_u: torch.Tensor, w, b):
    return w*t_u+b


def loss_fn(t_p: torch.Tensor, t_c: torch.Tensor):
    squared_diffs = (t_p-t_c)**2
    return squared_diffs.mean()  # 평균 제곱 손실


# %%
w = torch.ones(())
b = torch.zeros(())

t_p = model(t_u, w, b)
print(t_p)

# %%
loss = loss_fn(t_p, t_c)
print(loss)

# %%
delta = 0.1

loss_rate_of_change_w = \
    (loss_fn(model(t_u, w+delta, b), t_c) -
     loss_fn(model(t_u, w-delta, b), t_c)) / (2.0*delta)

# %%
learning_rate = 1e-2

w = w - learning_rate * loss_rate_of_change_w

# %%
# The seed's cell, typos included: `-delta` where `b-delta` was meant, and `//` (floor
# division) where `/` was meant. Neither is an error for PyTorch or ember — both compute
# exactly what is written — so the corrected cell follows and both results are printed.
loss_rate_of_change_b = \
    (loss_fn(model(t_u, w, b+delta), t_c) -
     loss_fn(model(t_u, w, -delta), t_c)) // (2.0*delta)

b = b - learning_rate * loss_rate_of_change_b
print('as typed:  ', loss_rate_of_change_b)

loss_rate_of_change_b = \
    (loss_fn(model(t_u, w, b+delta), t_c) -
     loss_fn(model(t_u, w, b-delta), t_c)) / (2.0*delta)
print('corrected: ', loss_rate_of_change_b)


# %%
def dloss_fn(t_p, t_c):
    dsq_diffs = 2 * (t_p - t_c) / t_p.size(0)
    return dsq_diffs


# %%
def dmodel_dw(t_u, w, b):
    return t_u


def dmodel_db(t_u, w, b):
    return 1.0


def grad_fn(t_u, t_c, t_p, w, b):
    dloss_dtp = dloss_fn(t_p, t_c)
    dloss_dw = dloss_dtp * dmodel_dw(t_u, w, b)
    dloss_db = dloss_dtp * dmodel_db(t_u, w, b)

    return torch.stack([dloss_dw.sum(), dloss_db.sum()])


# %%
def training_loop(n_epochs, learning_rate, params, t_u, t_c):
    for epoch in range(1, n_epochs+1):
        w, b = params
        t_p = model(t_u, w, b)
        loss = loss_fn(t_p, t_c)
        grad = grad_fn(t_u, t_c, t_p, w, b)
        params = params - learning_rate * grad
        print('Epoch %d, Loss %f' % (epoch, float(loss)))
        print(f'Params: {params}')
        print(f'Grad: {grad}')
        print()

    return params


# %%
print(training_loop(
    n_epochs=100,
    learning_rate=1e-2,
    params=torch.tensor([1.0, 0.0]),
    t_u=t_u,
    t_c=t_c
))

# %%
print(training_loop(
    n_epochs=100,
    learning_rate=1e-4,
    params=torch.tensor([1.0, 0.0]),
    t_u=t_u,
    t_c=t_c
))

# %%
t_un = 0.1 * t_u

# %%
w, b = training_loop(
    n_epochs=3000,
    learning_rate=1e-2,
    params=torch.tensor([1.0, 0.0]),
    t_u=t_un,
    t_c=t_c
)
print((w, b))

# %%
t_p = model(t_u, 0.1*w, b)
print(t_p)

# %%
import matplotlib
matplotlib.use("Agg")  # no screen here: the figure is saved below instead of shown
import matplotlib.pyplot as plt

# 모델 예측값
t_p = model(t_un, w, b)

# 그래프 그리기
plt.figure(figsize=(10, 5))
plt.plot(t_u.numpy(), t_c.numpy(), 'o', label='Actual Data')
plt.plot(t_u.numpy(), t_p.detach().numpy(), label='Model Prediction')
plt.xlabel('Input (t_u)')
plt.ylabel('Output (t_c)')
plt.legend()
plt.savefig('s2_fit_linear.png')

# %%
params = torch.tensor([1.0, 0.0], requires_grad=True)

# %%
print(params.grad is None)

# %%
loss = loss_fn(model(t_u, *params), t_c)
loss.backward()

# %%
print(params.grad)


# %%
def training_loop_new(n_epochs, learning_rate, params, t_u, t_c):
    for epoch in range(1, n_epochs+1):
        if params.grad is not None:
            params.grad.zero_()
        t_p = model(t_u, *params)
        loss = loss_fn(t_p, t_c)
        loss.backward()

        with torch.no_grad():
            params -= learning_rate * params.grad

        if epoch % 500 == 0:
            print('Epoch %d, Loss %f' % (epoch, float(loss)))
    return params


# %%
t_un = t_u*0.1
print(training_loop_new(n_epochs=5000, learning_rate=1e-2,
                        params=torch.tensor([1.0, 0.0], requires_grad=True), t_u=t_un, t_c=t_c))

# %%
import torch.optim as optim

print([name for name in dir(optim) if not name.startswith('__')])

# %%
params = torch.tensor([1.0, 0.0], requires_grad=True)
learning_rate = 1e-1
optimizer = optim.Adam([params], lr=learning_rate)

# %%
t_p = model(t_u, *params)
loss = loss_fn(t_p, t_c)
loss.backward()

optimizer.step()

print(params)


# %%
def training_loop_opt(n_epochs, optimizer, params, t_u, t_c):
    for epoch in range(1, n_epochs+1):
        t_p = model(t_u, *params)
        loss = loss_fn(t_p, t_c)
        optimizer.zero_grad()
        loss.backward()

        optimizer.step()

        if epoch % 500 == 0:
            print('Epoch %d, Loss %f' % (epoch, float(loss)))

    return params


# %%
print(training_loop_opt(n_epochs=5000, optimizer=optimizer,
                        params=params, t_u=t_u, t_c=t_c))

# %%
n_samples = t_u.shape[0]
n_val = int(0.2 * n_samples)

shuffled_indices = torch.randperm(n_samples)

train_indices = shuffled_indices[:-n_val]
val_indices = shuffled_indices[-n_val:]

print((train_indices, val_indices))

# %%
train_t_u = t_u[train_indices]
train_t_c = t_c[train_indices]
val_t_u = t_u[val_indices]
val_t_c = t_c[val_indices]

train_t_un = train_t_u * 0.1
val_t_un = val_t_u * 0.1


# %%
def training_loop_tr(n_epochs, optimizer, params, val_t_u, val_t_c, train_t_u, train_t_c):
    for epoch in range(1, n_epochs+1):
        train_t_p = model(train_t_u, *params)
        val_t_p = model(val_t_u, *params)

        train_loss = loss_fn(train_t_p, train_t_c)
        val_loss = loss_fn(val_t_p, val_t_c)
        optimizer.zero_grad()
        train_loss.backward()

        optimizer.step()

        if epoch <= 3 or epoch % 500 == 0:
            print(f"Epoch {epoch}, Training loss {train_loss.item():.4f},"
                  f" Validation loss {val_loss.item():.4f}")

    return params


# %%
params = torch.tensor([1.0, 0.0], requires_grad=True)
learning_rate = 1e-2
optimizer = optim.SGD([params], lr=learning_rate)

print(training_loop_tr(n_epochs=5000, optimizer=optimizer, params=params, val_t_c=val_t_c,
                       val_t_u=val_t_un, train_t_c=train_t_c, train_t_u=train_t_un))

# %%
params = torch.tensor([0.1, 1.0, 0.0], requires_grad=True)
learning_rate = 1e-4
optimizer = optim.SGD([params], lr=learning_rate)


def new_model(t_u, w1, w2, b):
    return w2 * t_u ** 2 + w1 * t_u + b


def training_loop_another(n_epochs, optimizer, params, t_u, t_c):
    for epoch in range(1, n_epochs+1):
        t_p = new_model(t_u, *params)
        loss = loss_fn(t_p, t_c)

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        if epoch<=3 or epoch%500 == 0:
            print(f"Epoch {epoch}, Loss {loss.item():.4f}")
    return params


t_un = t_u * 0.1
print(training_loop_another(n_epochs=5000, optimizer=optimizer, params=params, t_u=t_un, t_c=t_c))

# %%
# 모델 예측값
t_p = new_model(t_un, *params)

# 그래프 그리기
plt.figure(figsize=(10, 5))
plt.plot(t_u.numpy(), t_c.numpy(), 'o', label='Actual Data')
plt.plot(t_u.numpy(), t_p.detach().numpy(), 'x', label='Model Prediction')
plt.xlabel('Input (t_u)')
plt.ylabel('Output (t_c)')
plt.legend()
plt.savefig('s2_fit_quadratic.png')
