# Seed S1 — "Pytorch로 딥러닝: 인공신경망 (DNN) 기초 – 두번째 시간", section 6 (데이터로더:
# Dataset and DataLoader), every listing in order. Written as the learner typed it, with
# `import torch`; run it on ember with
#     python -m ember run examples/seeds/s1_6_dataloader.py
# Cells are separated by `# %%` (Jupytext's percent format); a cell that ended with a bare
# expression in the notebook prints it here.

# %%
import torch

# %%
from torch.utils.data import Dataset


class CustomDataset(Dataset):
    def __init__(self):
        self.x_data = [[73, 80, 75],
                       [93, 88, 93],
                       [89, 91, 90],
                       [96, 98, 100],
                       [73, 66, 70]]

        self.y_data = [[152], [185], [180], [196], [142]]

    def __len__(self):
        return len(self.x_data)

    def __getitem__(self, idx):
        x = torch.FloatTensor(self.x_data[idx])
        y = torch.FloatTensor(self.y_data[idx])

        return x, y


# %%
# 모델 데이터 셋 생성
dataset = CustomDataset()

from torch.utils.data import DataLoader

dataloader = DataLoader(
    dataset,
    batch_size=2,
    shuffle=True
)

# %%
# "F는 torch.nn.functional을 의미. 노트북 맨 상단을 볼것" (F is torch.nn.functional; see the top
# of the notebook): the notebook's first cells, which the seed does not show, imported F and
# made the model, a linear regression of the three scores.
import torch.nn.functional as F

model = torch.nn.Linear(3, 1)

# %%
optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)

nb_epochs = 20
for epoch in range(nb_epochs + 1):
    for batch_idx, samples in enumerate(dataloader):
        x_train, y_train = samples

        # H(x) prediction 계산
        prediction = model(x_train)

        # cost 계산
        # F는 torch.nn.functional을 의미. 노트북 맨 상단을 볼것
        cost = F.mse_loss(prediction, y_train)

        # cost로 H(x) 개선
        optimizer.zero_grad()
        cost.backward()
        optimizer.step()

        # (one line per batch, as the seed's output shows: the print is inside the batch loop)
        print('Epoch {:4d}/{:4d} Batch {}/{} Cost : {:.6f}'.format(
            epoch, nb_epochs, batch_idx+1, len(dataloader),
            cost.item()
        ))
