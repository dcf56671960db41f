# Seed S0 — "DEEP LEARNING WITH PYTORCH: ABOUT AUTOGRAD / MODEL TRAIN & TEST" (the Boston
# housing regression), every listing. Written as the learner typed it, with `import torch`;
# run it on ember with
#     EMBER_DATA=/path/to/data python -m ember run examples/seeds/s0_autograd_boston.py
# where $EMBER_DATA/BostonHousing/BostonHousing.csv is the 506-row table (the seed does not
# show where its `bostonDF` came from). Cells are separated by `# %%` (Jupytext's percent
# format); a cell that ended with a bare expression in the notebook prints it here.
#
# The slides show the listings in two passes: "ABOUT AUTOGRAD" quotes pieces of the training
# code (loss.backward(), named_parameters(), the optimizer), then "MODEL TRAIN & TEST" gives
# the whole pipeline. Here they run once, in pipeline order: the no_grad/detach demo, the
# data, the settings, the model, the training loop, the parameters, the evaluation.

# %%
import os

# Where the learner's DataFrame comes from (not shown in the seed).
DATA = os.environ.get('EMBER_DATA', '.')

# %%
import torch
from torch import nn
import pandas as pd

# %% [markdown]
# ## ABOUT AUTOGRAD — 자동미분 해제 → `torch.no_grad()`, `detach()`

# %%
# x, w, b as in PyTorch's autograd tutorial, which this slide quotes (the seed does not show
# them): one input of 5 features, a 5x3 weight and a bias that require grad.
x = torch.ones(5)
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)

# %%
with torch.no_grad():
    z = torch.matmul(x, w)+b
print(z.requires_grad)

# %%
z = torch.matmul(x, w)+b
z_det = z.detach()
print(z_det.requires_grad)

# %% [markdown]
# ## MODEL TRAIN & TEST — 학습용 데이터 준비

# %%
bostonDF = pd.read_csv(os.path.join(DATA, 'BostonHousing', 'BostonHousing.csv'))

# %%
# DataFrame ==> Feature 추출
X = bostonDF.iloc[:, :13].values
Y = bostonDF['medv'].values

print(f'X : {type(X)}, {X.shape}\nY : {type(Y)}, {Y.shape}')

# %%
# 학습 횟수 및 한번에 학습할 데이터 크기 설정
EPOCHS = 500
BATCH_SIZE = 100
LR = 0.001

# %%
# 모델 인스턴스 생성
linear_model = nn.Sequential(nn.Linear(13, 10),
                             nn.ReLU(),
                             nn.Linear(10, 1))

# %%
# 가중치/절편 최적화 방법 설정
from torch.optim import Adam

# W, b 업데이트 위한 모델 파라미터 설정
optimizer = Adam(linear_model.parameters(), lr=LR)

# %%
linear_model.train()  # 학습 모드 (the slides' model.train())
for epoch in range(EPOCHS):
    for i in range(len(X)//BATCH_SIZE):
        start = i*BATCH_SIZE
        end = start + BATCH_SIZE

        # ndarray ==> tensor변환
        x = torch.FloatTensor(X[start:end])
        y = torch.FloatTensor(Y[start:end])

        # 가중치 기울기 0 초기화
        optimizer.zero_grad()

        # 학습 진행
        pre_y = linear_model(x)

        # 손실 계산
        loss = nn.MSELoss()(pre_y, y.reshape(-1,1))

        # 역전파 진행
        loss.backward()

        # 가중치/절편 업데이트
        optimizer.step()

# %%
# ABOUT AUTOGRAD: 역전파 진행으로, 가중치/절편 업데이트 — the parameters after training
for name, param in linear_model.named_parameters():
    print(name, param)

# %% [markdown]
# ## 모델 평가

# %%
linear_model.eval()  # 평가 모드 (the slides' model.eval())

# 모델 성능 평가
pre = linear_model(torch.FloatTensor(X[0, :13]))

print((pre, Y[0]))
