# Seed S3 — COSE474 "4.3 The Base Classification Model" (d2l-en §4.3), every listing in order.
# Written as the learner typed it, with `import torch` and `from d2l import torch as d2l`;
# run it on ember with
#     python -m ember run examples/seeds/s3_4_3_classifier.py
# Cells are separated by `# %%` (Jupytext's percent format).

# %%
import torch
from d2l import torch as d2l


# %%
# As typed: the hook is spelled `validation_dtep`. d2l's Trainer calls `validation_step`, so
# with PyTorch's d2l this method silently never runs (validation would plot the loss only,
# never the accuracy). ember.d2l warns when the class is defined:
#   UserWarning: Classifier.validation_dtep looks like a misspelling of the hook
#   'validation_step': the trainer calls 'validation_step', so 'validation_dtep' will never run.
class Classifier(d2l.Module):
    """Tje base class of classfication models."""
    def validation_dtep(self, batch):
        Y_hat = self(*batch[:-1])
        self.plot('loss', self.loss(Y_hat, batch[-1]), train=False)
        self.plot('acc', self.accuracy(Y_hat, batch[-1]), train=False)


# %%
# Corrected: the hook d2l's Trainer calls (no warning).
class Classifier(d2l.Module):
    """The base class of classification models."""
    def validation_step(self, batch):
        Y_hat = self(*batch[:-1])
        self.plot('loss', self.loss(Y_hat, batch[-1]), train=False)
        self.plot('acc', self.accuracy(Y_hat, batch[-1]), train=False)


# %%
@d2l.add_to_class(d2l.Module)
def configure_optimizers(self):
    return torch.optim.SGD(self.parameters(), lr=self.lr)


# %%
@d2l.add_to_class(Classifier)
def accuracy(self, Y_hat, Y, averaged=True):
    """Compute the number of correct predictions."""
    Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
    preds = Y_hat.argmax(axis=1).type(Y.dtype)
    compare = (preds == Y.reshape(-1)).type(torch.float32)
    return compare.mean() if averaged else compare
