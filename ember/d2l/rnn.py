"""d2l.torch names of chapter 9 (and the GRU of chapter 10): text, vocabularies, RNNs."""
from __future__ import annotations

import collections
import re

import numpy as np

import ember as torch
from ember import nn
from ember.nn import functional as F

from . import (
    Classifier,
    DataModule,
    Module,
    _data_file,
    argmax,
    exp,
    matmul,
    randn,
    reshape,
    stack,
    swapaxes,
    tanh,
    tensor,
    zeros,
)

__all__ = ["TimeMachine", "Vocab", "tokenize", "RNNScratch", "check_len", "check_shape",
           "RNNLMScratch", "RNN", "RNNLM", "GRU", "grad_clipping"]

_TIME_MACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"


class TimeMachine(DataModule):
    """The Time Machine dataset."""

    def __init__(self, batch_size, num_steps, num_train=10000, num_val=5000):
        super().__init__()
        self.save_hyperparameters()
        corpus, self.vocab = self.build(self._download())
        if len(corpus) <= num_steps:
            raise ValueError(f"TimeMachine: num_steps={num_steps} needs a corpus longer than "
                             f"{num_steps} tokens, got {len(corpus)}")
        # Every window of num_steps + 1 tokens, as d2l's list of slices, built without a loop.
        windows = np.lib.stride_tricks.sliding_window_view(
            np.asarray(corpus, dtype=np.int64), num_steps + 1)[:len(corpus) - num_steps]
        array = torch.from_numpy(np.ascontiguousarray(windows))
        self.X, self.Y = array[:, :-1], array[:, 1:]

    def _download(self):
        """The raw text (``<root>/timemachine.txt``, else ``$EMBER_DATA/d2l/``, else d2l's hub)."""
        with open(_data_file("timemachine.txt", _TIME_MACHINE_SHA1, root=self.root)) as f:
            return f.read()

    def _preprocess(self, text):
        return re.sub("[^A-Za-z]+", " ", text).lower()

    def _tokenize(self, text):
        return list(text)

    def build(self, raw_text, vocab=None):
        """Tokenize ``raw_text``; return the corpus (token indices) and the vocabulary."""
        tokens = self._tokenize(self._preprocess(raw_text))
        if vocab is None:
            vocab = Vocab(tokens)
        corpus = [vocab[token] for token in tokens]
        return corpus, vocab

    def get_dataloader(self, train):
        idx = (slice(0, self.num_train) if train
               else slice(self.num_train, self.num_train + self.num_val))
        return self.get_tensorloader([self.X, self.Y], train, idx)


class Vocab:
    """Vocabulary for text."""

    def __init__(self, tokens=[], min_freq=0, reserved_tokens=[]):  # noqa: B006
        if tokens and isinstance(tokens[0], list):  # a list of lines of tokens
            tokens = [token for line in tokens for token in line]
        counter = collections.Counter(tokens)
        self.token_freqs = sorted(counter.items(), key=lambda x: x[1], reverse=True)
        self.idx_to_token = list(sorted(set(["<unk>"] + reserved_tokens + [
            token for token, freq in self.token_freqs if freq >= min_freq])))
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(token) for token in tokens]

    def to_tokens(self, indices):
        """The tokens of ``indices``: a list, or one token for a single index (as in d2l)."""
        if np.ndim(indices) == 0:
            return self.idx_to_token[int(indices)]
        tokens = [self.idx_to_token[int(index)] for index in indices]
        return tokens[0] if len(tokens) == 1 else tokens

    @property
    def unk(self):
        """Index of the unknown token."""
        return self.token_to_idx["<unk>"]


def tokenize(lines, token="word"):
    """Split text lines into word or character tokens."""
    if token not in ("word", "char"):
        raise AssertionError("Unknown token type: " + token)
    return [line.split() if token == "word" else list(line) for line in lines]


def check_len(a, n):
    """Check the length of a list."""
    if len(a) != n:
        raise AssertionError(f"list's length {len(a)} != expected length {n}")


def check_shape(a, shape):
    """Check the shape of a tensor."""
    if a.shape != shape:
        raise AssertionError(f"tensor's shape {a.shape} != expected shape {shape}")


class RNNScratch(Module):
    """The RNN model implemented from scratch."""

    def __init__(self, num_inputs, num_hiddens, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.W_xh = nn.Parameter(randn(num_inputs, num_hiddens) * sigma)
        self.W_hh = nn.Parameter(randn(num_hiddens, num_hiddens) * sigma)
        self.b_h = nn.Parameter(zeros(num_hiddens))

    def forward(self, inputs, state=None):
        """inputs: (num_steps, batch_size, num_inputs); returns the list of states and the last."""
        if state is None:
            state = zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
        else:
            state, = state
        outputs = []
        for X in inputs:
            state = tanh(matmul(X, self.W_xh) + matmul(state, self.W_hh) + self.b_h)
            outputs.append(state)
        return outputs, state


class RNNLMScratch(Classifier):
    """The RNN-based language model implemented from scratch."""

    def __init__(self, rnn, vocab_size, lr=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.init_params()

    def init_params(self):
        self.W_hq = nn.Parameter(randn(self.rnn.num_hiddens, self.vocab_size) * self.rnn.sigma)
        self.b_q = nn.Parameter(zeros(self.vocab_size))

    def training_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])  # noqa: E741
        self.plot("ppl", exp(l), train=True)
        return l

    def validation_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])  # noqa: E741
        self.plot("ppl", exp(l), train=False)

    def one_hot(self, X):
        """(batch_size, num_steps) indices -> (num_steps, batch_size, vocab_size) floats."""
        return F.one_hot(X.T, self.vocab_size).type(torch.float32)

    def output_layer(self, rnn_outputs):
        outputs = [matmul(H, self.W_hq) + self.b_q for H in rnn_outputs]
        return stack(outputs, 1)

    def forward(self, X, state=None):
        embs = self.one_hot(X)
        rnn_outputs, _ = self.rnn(embs, state)
        return self.output_layer(rnn_outputs)

    def predict(self, prefix, num_preds, vocab, device=None):
        """Warm up on ``prefix``, then append ``num_preds`` greedily predicted tokens."""
        state, outputs = None, [vocab[prefix[0]]]
        for i in range(len(prefix) + num_preds - 1):
            X = tensor([[outputs[-1]]], device=device)
            embs = self.one_hot(X)
            rnn_outputs, state = self.rnn(embs, state)
            if i < len(prefix) - 1:  # warm-up period
                outputs.append(vocab[prefix[i + 1]])
            else:
                Y = self.output_layer(rnn_outputs)
                outputs.append(int(reshape(argmax(Y, axis=2), 1)))
        return "".join([vocab.idx_to_token[i] for i in outputs])


class RNN(Module):
    """The RNN model implemented with high-level APIs."""

    def __init__(self, num_inputs, num_hiddens):
        super().__init__()
        self.save_hyperparameters()
        self.rnn = nn.RNN(num_inputs, num_hiddens)

    def forward(self, inputs, H=None):
        return self.rnn(inputs, H)


class RNNLM(RNNLMScratch):
    """The RNN-based language model implemented with high-level APIs."""

    def init_params(self):
        self.linear = nn.LazyLinear(self.vocab_size)

    def output_layer(self, hiddens):
        return swapaxes(self.linear(hiddens), 0, 1)


class GRU(RNN):
    """The multilayer GRU model."""

    def __init__(self, num_inputs, num_hiddens, num_layers, dropout=0):
        Module.__init__(self)
        self.save_hyperparameters()
        self.rnn = nn.GRU(num_inputs, num_hiddens, num_layers, dropout=dropout)


def grad_clipping(net, theta):
    """Clip the gradient."""
    if isinstance(net, nn.Module):
        params = [p for p in net.parameters() if p.requires_grad]
    else:
        params = net.params
    norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in params))
    if norm > theta:
        for param in params:
            param.grad[:] *= theta / norm
