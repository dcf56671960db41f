"""Issue #14: a character GPT's training step, ember against PyTorch, and its GEMM floor.

    python bench/transformer.py [--runs 3] [--steps 20] [--threads N] [--quick]
                                [--only gpt sdpa encoder]
    python bench/transformer.py --profile gpt        # cProfile of ember's step (no torch)

Milliseconds per training step (forward, CrossEntropyLoss, backward, AdamW step), the
median over ``--steps`` steps per process, processes alternating A B A B. The model: a
character GPT of 0.8 M parameters, vocabulary 65, context 64, batch 32, token and position
Embedding, 4 pre-norm blocks (LayerNorm, 4-head causal self-attention, LayerNorm, MLP
128-512-128 with GELU), final LayerNorm, Linear head; dropout 0. Three spellings:

* ``gpt``: attention written out (q @ k^T * scale, masked_fill of a causal mask, softmax,
  @ v), as in nanoGPT-style tutorials;
* ``sdpa``: the same blocks with ``F.scaled_dot_product_attention(is_causal=True)``;
* ``encoder``: ``nn.TransformerEncoderLayer(128, 4, 512, dropout=0, activation="gelu",
  batch_first=True, norm_first=True)`` with a causal ``src_mask``.

Both frameworks start from the same weights (NumPy draws copied in) and see the same
token batches (a fixed NumPy draw). The *floor* row is the time of just the matrix products
of one step (every Linear forward and its two gradient GEMMs, the two batched attention
products and their four gradient GEMMs) through NumPy's BLAS at the same shapes.
"""
from __future__ import annotations

import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

TARGET = 0.9
MODELS = ("gpt", "sdpa", "encoder")
VOCAB, CTX, BATCH, D, HEADS, LAYERS, FF = 65, 64, 32, 128, 4, 4, 512


def build(fw, variant):
    nn = fw.nn
    F = nn.functional

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(D, 3 * D)
            self.proj = nn.Linear(D, D)
            self.register_buffer("mask", fw.tril(fw.ones(CTX, CTX)).view(1, 1, CTX, CTX))

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(x).split(D, dim=2)
            q = q.view(B, T, HEADS, C // HEADS).transpose(1, 2)
            k = k.view(B, T, HEADS, C // HEADS).transpose(1, 2)
            v = v.view(B, T, HEADS, C // HEADS).transpose(1, 2)
            if variant == "sdpa":
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / (C // HEADS) ** 0.5)
                att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
                att = F.softmax(att, dim=-1)
                y = att @ v
            return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(D)
            self.attn = Attention()
            self.ln2 = nn.LayerNorm(D)
            self.mlp = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(VOCAB, D)
            self.pos = nn.Embedding(CTX, D)
            if variant == "encoder":
                self.blocks = nn.ModuleList(
                    nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True)
                    for _ in range(LAYERS))
                self.register_buffer("causal", fw.triu(fw.full((CTX, CTX), float("-inf")),
                                                       diagonal=1))
            else:
                self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
            self.ln_f = nn.LayerNorm(D)
            self.head = nn.Linear(D, VOCAB)

        def forward(self, idx):
            T = idx.shape[1]
            x = self.tok(idx) + self.pos(fw.arange(T))
            for blk in self.blocks:
                x = blk(x, src_mask=self.causal[:T, :T]) if variant == "encoder" else blk(x)
            return self.head(self.ln_f(x))

    return GPT()


def init_weights(fw, model, seed=14):
    """Copy NumPy draws into every parameter (LayerNorm keeps its ones and zeros)."""
    rng = np.random.default_rng(seed)
    with fw.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name or "norm" in name:
                continue
            std = 0.02 if p.ndim > 1 else 0.01
            p.copy_(fw.from_numpy((rng.standard_normal(tuple(p.shape)) * std)
                                  .astype(np.float32)))


def batches(steps, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        tok = rng.integers(0, VOCAB, (BATCH, CTX + 1))
        out.append((tok[:, :-1].copy(), tok[:, 1:].copy()))
    return out


def make_step(fw, variant):
    model = build(fw, variant)
    init_weights(fw, model)
    model.train()
    opt = fw.optim.AdamW(model.parameters(), lr=3e-4)
    crit = fw.nn.CrossEntropyLoss()

    def step(X, Y):
        opt.zero_grad()
        logits = model(X)
        loss = crit(logits.view(-1, VOCAB), Y.view(-1))
        loss.backward()
        opt.step()
        return loss

    return step, sum(p.numel() for p in model.parameters())


def worker(args):
    if args.floor:
        return floor_worker(args)
    fw = common.import_framework(args.framework)
    fw.set_num_threads(args.threads)
    fw.manual_seed(0)
    for variant in args.only:
        step, nparams = make_step(fw, variant)
        data = [(fw.from_numpy(x), fw.from_numpy(y)) for x, y in batches(args.steps + 3)]
        for X, Y in data[:3]:
            step(X, Y)
        ms, cpu, loss = [], [], None
        for X, Y in data[3:]:
            with common.Clock() as c:
                loss = step(X, Y)
            ms.append(c.wall * 1e3)
            cpu.append(c.cpu * 1e3)
        common.emit(model=variant, ms=statistics.median(ms), cpu_ms=statistics.median(cpu),
                    steps=len(ms), params=nparams, last_loss=float(loss.item()))


def gemms():
    """(batch, m, k, n) of every matrix product of one step, forward and backward."""
    rows = BATCH * CTX
    out = []

    def linear(fin, fout):
        out.append((1, rows, fin, fout))
        out.append((1, fout, rows, fin))
        out.append((1, rows, fout, fin))

    hd = D // HEADS
    for _ in range(LAYERS):
        linear(D, 3 * D)
        for m, k, n in ((CTX, hd, CTX), (CTX, CTX, hd)):  # q k^T, att v
            out.append((BATCH * HEADS, m, k, n))
            out.append((BATCH * HEADS, m, n, k))
            out.append((BATCH * HEADS, k, m, n))
        linear(D, D)
        linear(D, FF)
        linear(FF, D)
    linear(D, VOCAB)
    return out


def floor_worker(args):
    rng = np.random.default_rng(0)
    shapes = gemms()
    mats = [(rng.standard_normal((b, m, k), dtype=np.float32),
             rng.standard_normal((b, k, n), dtype=np.float32)) for b, m, k, n in shapes]
    outs = [np.empty((a.shape[0], a.shape[1], b.shape[2]), np.float32) for a, b in mats]

    def run():
        for (a, b), o in zip(mats, outs):
            np.matmul(a, b, out=o)

    ms, cpu = common.time_floor(run, args.steps)
    gflop = sum(2 * b * m * k * n for b, m, k, n in shapes) / 1e9
    for variant in args.only:  # the same GEMMs for every spelling
        common.emit(model=variant, floor_ms=ms, cpu_floor_ms=cpu, gflop=gflop)


LABEL = {"gpt": "char GPT 0.8M step, attention written out, AdamW",
         "sdpa": "char GPT 0.8M step, F.scaled_dot_product_attention",
         "encoder": "char GPT 0.8M step, nn.TransformerEncoderLayer"}


def parser():
    return common.step_parser(__doc__.splitlines()[0], MODELS, what="variant")


def collect(args):
    return common.collect_with_floor(__file__, args, LABEL, TARGET)


def profile(args):
    name = args.profile or args.ops
    fw = common.import_framework("ember")
    fw.set_num_threads(args.threads)
    step, _ = make_step(fw, name)
    common.profile_steps(step, [(fw.from_numpy(x), fw.from_numpy(y))
                                for x, y in batches(args.steps + 3)], ops=args.ops is not None)


def main(argv=None):
    return common.step_main(parser().parse_args(argv), "Transformer training steps", LABEL,
                            worker, profile, collect)


if __name__ == "__main__":
    main()
