# Seed S3 — COSE474 "2.2 Data Preprocessing" (d2l-en §2.2), every listing in order.
# Written as the learner typed it, with `import torch`; run it on ember with
#     python -m ember run examples/seeds/s3_2_2_data_preprocessing.py
# It writes ../data/house_tiny.csv relative to the working directory, as the seed does.
# Cells are separated by `# %%` (Jupytext's percent format); a cell that ended with a bare
# expression in the notebook prints it here.

# %%
import os

os.makedirs(os.path.join('..', 'data'), exist_ok=True)
data_file = os.path.join('..', 'data', 'house_tiny.csv')
with open(data_file, 'w') as f:
    f.write('''NumRooms,RoofType,Price
NA,NA,127500
2,NA,106000
4,Slate,178100
NA,NA,140000''')

# %%
import pandas as pd

data = pd.read_csv(data_file)
print(data)

# %%
inputs, targets = data.iloc[:, 0:2], data.iloc[:, 2]
inputs = pd.get_dummies(inputs, dummy_na=True)
print(inputs)

# %%
inputs = inputs.fillna(inputs.mean())
print(inputs)

# %%
import torch

X = torch.tensor(inputs.to_numpy(dtype=float))
y = torch.tensor(targets.to_numpy(dtype=float))
print((X, y))
