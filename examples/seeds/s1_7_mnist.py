# Seed S1 — "Pytorch로 딥러닝: 인공신경망 (DNN) 기초 – 두번째 시간", section 7 (MNIST 실습: a
# 784-256-256-10 ReLU network trained with Adam), every listing in order. Written as the
# learner typed it, with `import torch` and torchvision; run it on ember with
#     EMBER_DATA=/path/to/data python -m ember run examples/seeds/s1_7_mnist.py
# where $EMBER_DATA/MNIST/raw holds the four IDX files (without it, the seed's root
# 'MNIST_data/' is used and download=True fetches them). SEED_EPOCHS=n trains n epochs
# instead of the seed's 15. Cells are separated by `# %%` (Jupytext's percent format); a cell
# that ended with a bare expression in the notebook prints it here; the figure is saved as a
# PNG file.

# %%
import os

# The notebook downloaded MNIST into 'MNIST_data/'; offline, read it from $EMBER_DATA.
DATA = os.environ.get('EMBER_DATA', 'MNIST_data/')

# %% [markdown]
# ## 1. 패키지 가져오기

# %%
# Lab 10 MNIST and softmax
import torch
import torchvision.datasets as dsets
import torchvision.transforms as transforms
import random
import matplotlib
matplotlib.use("Agg")  # no screen here: the figure is saved below instead of shown
import matplotlib.pyplot as plt

device = 'cuda' if torch.cuda.is_available() else 'cpu'

# for reproducibility
random.seed(777)
torch.manual_seed(777)
if device == 'cuda':
    torch.cuda.manual_seed_all(777)

# %%
# The next cells say `datasets` and `transforms`, and use learning_rate, training_epochs and
# data_loader; the notebook defined them in cells the seed does not show. These are the
# values of the lab the listing's first line names ("Lab 10 MNIST and softmax"): Adam at
# 1e-3, 15 epochs, batches of 100, shuffled, the last partial batch dropped.
from torchvision import datasets

learning_rate = 0.001
training_epochs = int(os.environ.get('SEED_EPOCHS', '15'))
batch_size = 100

# %% [markdown]
# ## 2. 데이터 갖고오기

# %%
# MNIST dataset
mnist_train = datasets.MNIST(root=DATA,
                             train=True,
                             transform=transforms.ToTensor(),
                             download=True)

mnist_test = datasets.MNIST(root=DATA,
                            train=False,
                            transform=transforms.ToTensor(),
                            download=True)

# %%
data_loader = torch.utils.data.DataLoader(dataset=mnist_train,
                                          batch_size=batch_size,
                                          shuffle=True,
                                          drop_last=True)

# %% [markdown]
# ## 3. EDA

# %%
# mnist에는 데이터가 어떤식으로 들어가 있나 보기
print(mnist_train[0])

# %%
# 데이터 시각화
plt.imshow(mnist_train[0][0].reshape(28,28), cmap='gray')
plt.savefig('s1_mnist_train0.png')
print("이 그림의 라벨은 다음과 같습니다 : ", mnist_train[0][1] )

# %% [markdown]
# ## 4. 모델 생성

# %%
# nn layers
linear1 = torch.nn.Linear(784, 256, bias=True)
linear2 = torch.nn.Linear(256, 256, bias=True)
linear3 = torch.nn.Linear(256, 10, bias=True)
relu = torch.nn.ReLU()

# model
model = torch.nn.Sequential(linear1, relu, linear2, relu, linear3).to(device)

# %%
# 모델 구조 시각화 (the slide repeats the cell above without `.to(device)`; it is not run
# twice here, which would draw a second set of initial weights)
print(model)

# %% [markdown]
# ## 5. 모델 훈련

# %%
# define cost/loss & optimizer
criterion = torch.nn.CrossEntropyLoss()    # Softmax is internally computed.
optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

total_batch = len(data_loader)
for epoch in range(training_epochs):
    avg_cost = 0

    for X, Y in data_loader:
        # reshape input image into [batch_size by 784]
        # label is not one-hot encoded
        X = X.view(-1, 28 * 28).to(device)
        Y = Y.to(device)

        optimizer.zero_grad()
        hypothesis = model(X)
        cost = criterion(hypothesis, Y)
        cost.backward()
        optimizer.step()

        # As typed: `cost` is a tensor, so avg_cost becomes a tensor that records this sum in
        # the autograd graph and keeps every batch's graph (activations included) alive until
        # the next epoch resets it. The PyTorch FAQ's fix:
        # `avg_cost += cost.item() / total_batch`.
        avg_cost += cost / total_batch    # 배치들마다 계산된 cost를 평균내어 한 epoch 당 cost로 계산

    print('Epoch:', '%04d' % (epoch + 1), 'cost =', '{:.9f}'.format(avg_cost))

print('Learning finished')

# %%
# What the `avg_cost += cost / total_batch` line kept: a tensor with a graph behind it.
print(avg_cost)

# %% [markdown]
# ## 6. 모델 테스트

# %%
# Test the model using test sets
# As typed: the model was trained on ToTensor() images in [0, 1], but `test_data` is the raw
# uint8 images, so this evaluates on 0-255 inputs (and `test_data`/`test_labels` are
# torchvision's deprecated names for `data`/`targets`, which warn). A ReLU network is nearly
# scale-invariant in its argmax, so the accuracy still looks fine; the corrected cell follows.
with torch.no_grad():
    X_test = mnist_test.test_data.view(-1, 28 * 28).float().to(device)
    Y_test = mnist_test.test_labels.to(device)

    prediction = model(X_test)
    correct_prediction = torch.argmax(prediction, 1) == Y_test
    accuracy = correct_prediction.float().mean()
    print('Accuracy:', accuracy.item())

# Get one and predict
r = random.randint(0, len(mnist_test) - 1)
X_single_data = mnist_test.test_data[r:r + 1].view(-1, 28 * 28).float().to(device)
Y_single_data = mnist_test.test_labels[r:r + 1].to(device)

print('Label: ', Y_single_data.item())
single_prediction = model(X_single_data)
print('Prediction: ', torch.argmax(single_prediction, 1).item())

# %%
# Corrected: the test images on the training scale, [0, 1], as ToTensor() gave them.
with torch.no_grad():
    X_test = mnist_test.data.view(-1, 28 * 28).float().to(device) / 255
    Y_test = mnist_test.targets.to(device)

    prediction = model(X_test)
    correct_prediction = torch.argmax(prediction, 1) == Y_test
    accuracy = correct_prediction.float().mean()
    print('Accuracy (test images scaled to [0, 1]):', accuracy.item())
