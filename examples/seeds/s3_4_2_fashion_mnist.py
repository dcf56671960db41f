# Seed S3 — COSE474 "4.2 The Image Classification Dataset" (d2l-en §4.2), every listing in
# order. Written as the learner typed it, with `import torch`, `import torchvision` and
# `from d2l import torch as d2l`; run it on ember with
#     EMBER_DATA=/path/to/data python -m ember run examples/seeds/s3_4_2_fashion_mnist.py
# where $EMBER_DATA/FashionMNIST/raw holds the four IDX files (without it, the seed's root
# '../data' is used and download=True fetches them). Cells are separated by `# %%` (Jupytext's
# percent format); a cell that ended with a bare expression in the notebook prints it here;
# figures are saved as PNG files.

# %%
import os

# The notebook downloaded Fashion-MNIST into '../data'; offline, read it from $EMBER_DATA.
DATA = os.environ.get('EMBER_DATA', '../data')

# %%
# %matplotlib inline     (a notebook magic; outside notebooks d2l draws off-screen)
import time
import torch
import torchvision
from torchvision import transforms
from d2l import torch as d2l

d2l.use_svg_display()


# %%
class FashionMNIST(d2l.DataModule):
    """The Fashion-MNIST dataset."""
    def __init__(self, batch_size=64, resize=(28, 28)):
        super().__init__()
        self.save_hyperparameters()
        trans = transforms.Compose([transforms.Resize(resize),
                                    transforms.ToTensor()])
        self.train = torchvision.datasets.FashionMNIST(
            root=DATA, train=True, transform=trans, download=True)
        self.val = torchvision.datasets.FashionMNIST(
            root=DATA, train=False, transform=trans, download=True)


# %%
data = FashionMNIST(resize=(32, 32))
print((len(data.train), len(data.val)))

# %%
print(data.train[0][0].shape)


# %%
@d2l.add_to_class(FashionMNIST)
def text_labels(self, indices):
    """Return text labels."""
    labels = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
              'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']
    return [labels[int(i)] for i in indices]


# %%
@d2l.add_to_class(FashionMNIST)
def get_dataloader(self, train):
    data = self.train if train else self.val
    return torch.utils.data.DataLoader(data, self.batch_size, shuffle=train,
                                       num_workers=self.num_workers)


# %%
# num_workers=4 (d2l's DataModule default) on a machine with fewer cores gives the UserWarning
# the seed shows, on PyTorch and on ember alike.
X, y = next(iter(data.train_dataloader()))
print(X.shape, X.dtype, y.shape, y.dtype)

# %%
tic = time.time()
for X, y in data.train_dataloader():
    continue
print(f'{time.time() - tic:.2f} sec')


# %%
def show_images(imgs, num_rows, num_cols, titles=None, scale=1.5):
    """Plot a list of images."""
    raise NotImplementedError


# %%
@d2l.add_to_class(FashionMNIST)
def visualize(self, batch, nrows=1, ncols=8, labels=[]):
    X, y = batch
    if not labels:
        labels = self.text_labels(y)
    d2l.show_images(X.squeeze(1), nrows, ncols, titles=labels)


batch = next(iter(data.val_dataloader()))
data.visualize(batch)
d2l.plt.savefig('s3_4_2_visualize.png', bbox_inches='tight')  # shown inline in the notebook
