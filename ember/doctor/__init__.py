"""ember.doctor: watches a training run and says, once each, what is going wrong and how to fix it.

    with ember.doctor.watch(model, optimizer):   # or ember.doctor.watch() for everything
        for X, y in loader: ...

It only reads what ember already sees: module forward calls (global forward hooks), each
backward into ``.grad`` (the engine's observers), optimizer steps (global step hooks) and, while
watching, ``nn.functional.cross_entropy``. It never writes a tensor, draws a random number or
changes a dtype, so a run's numbers are the same with and without it. Each diagnosis is one line
on stderr, ``ember doctor: <code>: <evidence>; <fix>``; docs/doctor.md explains each code.
"""
from __future__ import annotations

import atexit
import difflib
import gc
import itertools
import math
import os
import sys
import weakref
from typing import NamedTuple

import numpy as np

import ember

from .._tensor import Tensor
from ..autograd import engine
from ..autograd.function import _INPUT, _OUTPUT
from ..autograd.grad_mode import _state as _GRAD  # [enabled]: the current grad mode
from ..nn import functional as F
from ..nn.modules import module as M
from ..nn.modules.batchnorm import _BatchNorm
from ..nn.modules.dropout import _DropoutNd
from ..optim import optimizer as O
from . import _plot

__all__ = ["CODES", "Diagnosis", "Doctor", "active", "hook_typo", "stop", "trainer", "watch"]

CODES = ("diverging", "nan", "stalled", "input-scale", "vanishing-gradients", "dead-relu",
         "graph-leak", "grads-not-zeroed", "eval-input-drift", "eval-mode",
         "softmax-into-cross-entropy", "hook-typo")

# Optimizers that scale each parameter's step by its own gradient history: for them a weight
# and a bias with gradients 55x apart take steps of the same size, so that is no diagnosis.
_ADAPTIVE = {"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta",
             "Adafactor", "Rprop", "SparseAdam", "LBFGS"}

_SAMPLE = 32        # gradient/parameter values kept per tensor to tell "reset" from "accumulated"
_LEAK_AGE = 3       # a step's graph still alive this many steps later is suspicious...
_LEAK_STEPS = 5     # ...and this many such steps in a row is a leak
_RELU_WINDOW = 20   # forward calls over which a ReLU unit must never fire to count as dead
_RELU_PERIOD = 200  # ReLU windows start every this many forward passes
_STALL_WINDOW = 20
_NORM_SAMPLE = 8192  # gradient values per tensor behind the per-step norms

_active: list = [None]
_atexit_registered = [False]


class Diagnosis(NamedTuple):
    """One finding: its code, the step (backward count) it fired at, and the printed text."""
    code: str
    step: int
    message: str


def active() -> Doctor | None:
    """The doctor watching now, or None."""
    return _active[0]


def watch(*objects, stream=None, plot: str | None = None, quiet: bool = False) -> Doctor:
    """Start watching ``objects`` (modules, optimizers), or every module and optimizer if none.

    Use it as a context manager, or call it plainly: it then watches until ``stop()`` or the
    end of the program, and prints its summary then. ``plot`` saves the picture at the end;
    ``quiet`` prints the summary only when something was diagnosed.
    """
    doc = _active[0]
    if doc is not None:  # nested (a d2l Trainer inside `python -m ember run --doctor`): join
        doc._add(objects)
        doc._holds += 1
        return doc
    doc = Doctor(objects, stream=stream, plot=plot, quiet=quiet)
    doc._start()
    if not _atexit_registered[0]:
        atexit.register(stop)
        _atexit_registered[0] = True
    return doc


def stop() -> Doctor | None:
    """Stop watching and print the summary; returns the doctor (its ``diagnoses``, ``plot``)."""
    doc = _active[0]
    if doc is not None:
        doc._stop()
    return doc


def trainer(model, optimizer, classes=(), hooks=()) -> Doctor:
    """The watch that ember.d2l's Trainer opens around ``fit``, with its hook-name check."""
    doc = watch(model, *([optimizer] if hasattr(optimizer, "param_groups") else []), quiet=True)
    for cls in classes:
        for klass in cls.__mro__:
            if klass.__module__.startswith("ember.") or klass is object:
                continue
            for name, value in vars(klass).items():
                if name.startswith("_") or name in hooks or not callable(value):
                    continue
                close = difflib.get_close_matches(name, hooks, n=1, cutoff=0.85)
                if close:
                    hook_typo(klass, name, close[0])
    return doc


def hook_typo(cls, name: str, hook: str) -> None:
    """Report ``cls.name`` as a misspelling of the trainer hook ``hook`` (if a doctor watches)."""
    doc = _active[0]
    if doc is not None:
        doc.report("hook-typo", f"{cls.__name__}.{name} is one typo away from the hook "
                   f"'{hook}', which the trainer calls instead, so '{name}' never runs; rename "
                   f"it to '{hook}'", key=("hook-typo", cls, name))


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    a = abs(x)
    if a != 0 and (a >= 1e5 or a < 1e-3):
        return f"{x:.3g}"
    return f"{x:.4g}"


def _frac(x):
    return f"{100 * x:.0f}%"


def _nonfinite_origin(fn):
    """The op where a loss's first non-finite value arose, from the graph's saved arrays.

    A node whose saved inputs are finite while its result is not (its saved output, or the
    saved input of a node that consumed it) made the first inf/nan. Where the producer saved
    nothing (x - y saves no arrays), the op feeding it is named too. None when the saved arrays
    cannot tell. Runs only on a non-finite loss, before backward frees what was saved.
    """

    def bad(a):
        return isinstance(a, np.ndarray) and a.dtype.kind == "f" and not np.isfinite(a).all()

    def saved(node):
        return [e for e in (getattr(node, "_saved", None) or ())
                if isinstance(e, tuple) and len(e) >= 6]

    order, seen, stack = [], set(), [fn]
    while stack:  # from the loss towards the inputs
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(n for n, _ in getattr(node, "next_functions", ()))
    suspects = set()
    for node in order:
        for e in saved(node):
            if bad(e[0]):
                if e[1] == _OUTPUT:
                    suspects.add(id(node))
                elif e[1] == _INPUT and e[5] is not None:
                    suspects.add(id(e[5]))
    if not suspects and fn is not None:  # nothing downstream saved it: the loss's own node
        suspects.add(id(fn))
    for node in reversed(order):  # the suspect nearest the inputs first
        if id(node) not in suspects:
            continue
        ins = [e for e in saved(node) if e[1] == _INPUT]
        if ins and not any(bad(e[0]) for e in ins):
            return f"{node.name()} (finite inputs, non-finite result)"
        if not ins:
            feeders = [n for n, _ in getattr(node, "next_functions", ())
                       if n is not None and saved(n)
                       and not any(bad(e[0]) for e in saved(n) if e[1] == _INPUT)]
            if feeders:
                return f"{node.name()} or the {feeders[0].name()} feeding it"
            return node.name()
    return None


class Doctor:
    """The state of one watch: what was seen (``losses``, ``grad_norms``) and ``diagnoses``."""

    def __init__(self, objects=(), stream=None, plot=None, quiet=False):
        self.everything = not objects
        self.stream = stream
        self.plot_path = plot
        self.quiet = quiet
        self.diagnoses: list[Diagnosis] = []
        self.losses: list[float] = []         # one per backward of a scalar
        self.grad_norms: list[float] = []     # the total gradient norm after that backward
        self.layer_norms: dict[str, list] = {}  # per parameter tensor, for the picture
        self.step = 0                          # backwards seen
        self.updates = 0                       # optimizer steps seen
        self._fired: set = set()
        self._holds = 1
        self._roots: list = []                 # weak references to the watched root modules
        self._watched: set = set()             # ids of the watched modules and their children
        self._optims: list = []                # weak references to the optimizers
        self._sig = None                       # ids of the parameters watched now
        self._sig_of = None                    # the list they were taken from
        self._seg = 0                          # where the current run starts in self.losses
        self._leaf_mode = False
        self._params: list | None = None       # [(name, tensor)]
        self._handles: list = []
        self._depth = 0
        self._cur_root = None
        self._relu_calls: dict = {}
        self._relu: dict = {}
        self._mstack: list = []  # the modules whose forward is running, outermost first
        self._outs: list = []                  # (module, output) of this training forward pass
        self._passes = 0
        self._train_in: dict = {}              # id(root) -> [(mean |x|, max |x|)] in training
        self._feature_checks = 0
        self._trained: set = set()
        self._names: dict = {}                 # id(module) -> name within its root
        self._norm_layers: dict = {}           # id(root) -> its Dropout/BatchNorm modules
        self._pending = None                   # the root of a backward in progress
        self._before: dict = {}                # per-parameter samples after the last backward
        self._probes: list = []
        self._nz_run = 0
        self._nz_norms: list = []
        self._graphs: list = []                # (step, weakref to the loss's grad_fn, nodes)
        self._leak_quiet_until = 0
        self._leak_run = 0
        self._ratios: list = []                # input-scale evidence per early step
        self._vanish: list = []
        self._first_bad_grad = None
        self._samples: list = []               # the last steps' _before, for sign flips
        self._dtypes: dict = {}
        self._ce_calls = 0
        self._pass = None
        self._ce_orig = None
        self._root_names: list = []
        self._add(objects)

    # ---- reporting -------------------------------------------------------------------------
    def report(self, code: str, message: str, key=None) -> bool:
        """Print ``ember doctor: <code>: <message>`` once (per ``key``, default the code)."""
        key = code if key is None else key
        if key in self._fired:
            return False
        self._fired.add(key)
        self.diagnoses.append(Diagnosis(code, self.step, message))
        print(f"ember doctor: {code}: {message}", file=self.stream or sys.stderr, flush=True)
        return True

    def summary(self) -> str:
        """A short account of the run: steps, loss, and the diagnoses with their steps."""
        what = ", ".join(list(dict.fromkeys(self._root_names))[:3]) or "no module"
        head = (f"ember doctor: summary: {self.step} backward passes, {self.updates} optimizer "
                f"steps ({what})")
        finite = [x for x in self.losses if math.isfinite(x)]
        if self.losses:
            head += f"; loss {_fmt(self.losses[0])} -> {_fmt(self.losses[-1])}"
            if finite and len(finite) < len(self.losses):
                head += " (non-finite at the end)"
        if not self.diagnoses:
            return head + "; no problems found"
        found = ", ".join(f"{d.code} (step {d.step})" for d in self.diagnoses)
        return head + f"; {len(self.diagnoses)} found: {found}"

    def plot(self, path: str | None = None):
        """Loss and per-tensor gradient norms over the steps, each diagnosis marked; a PNG."""
        return _plot.plot(self, path)

    # ---- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._holds -= 1
        if self._holds <= 0:
            self._stop()
        return False

    def _add(self, objects):
        for obj in objects:
            if isinstance(obj, M.Module):
                self._add_root(obj)
            elif hasattr(obj, "param_groups"):
                self._add_optim(obj)
            elif isinstance(obj, (list, tuple)):
                self._add(obj)
            else:
                raise TypeError(f"ember.doctor.watch: cannot watch a {type(obj).__name__}: "
                                "pass modules and optimizers")

    def _add_optim(self, opt):
        if all(r() is not opt for r in self._optims):
            self._optims.append(weakref.ref(opt))
            self._params = None

    def _add_root(self, module):
        if any(r() is module for r in self._roots):
            return
        self._roots.append(weakref.ref(module))
        self._root_names.append(type(module).__name__)
        prefix = f"{len(self._roots) - 1}:" if len(self._roots) > 1 else ""
        for name, m in module.named_modules():
            self._watched.add(id(m))
            self._names.setdefault(id(m), prefix + (name or type(m).__name__))
        self._params = None

    def _start(self):
        _active[0] = self
        self._handles = [M.register_module_forward_pre_hook(self._pre_forward),
                         M.register_module_forward_hook(self._post_forward),
                         O.register_optimizer_step_post_hook(self._after_step)]
        engine._observers.append(self._on_backward)
        # cross_entropy is looked up on the module at call time (F.cross_entropy, and
        # nn.CrossEntropyLoss does the same), so a checked version in its place sees it
        self._ce_orig = F.cross_entropy
        F.cross_entropy = self._checked_cross_entropy
        # F.relu and torch.relu inside a forward (no nn.ReLU module to hook): watched the same
        self._relu_orig = (F.relu, ember.relu)
        F.relu, ember.relu = _watched_relu(self, F.relu), _watched_relu(self, ember.relu)

    def _stop(self):
        if _active[0] is not self:
            return
        _active[0] = None
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._on_backward in engine._observers:
            engine._observers.remove(self._on_backward)
        if F.cross_entropy == self._checked_cross_entropy:
            F.cross_entropy = self._ce_orig
        if getattr(F.relu, "_doctor", None) is self:
            F.relu = self._relu_orig[0]
        if getattr(ember.relu, "_doctor", None) is self:
            ember.relu = self._relu_orig[1]
        self._outs = []
        if not self.quiet or self.diagnoses:
            print(self.summary(), file=self.stream or sys.stderr, flush=True)
        if self.plot_path:
            try:
                self.plot(self.plot_path)
            except ImportError:
                pass

    # ---- what is watched -------------------------------------------------------------------
    def _is_watched(self, module):
        return self.everything or id(module) in self._watched

    def params(self) -> list:
        """The watched parameters as (name, tensor), in module order."""
        # a model or optimizer the program dropped (a new run rebinds `optimizer = ...`) stops
        # counting: its stale gradients would blur the new run's
        if self._params is not None:
            for r in self._roots:
                if r() is None:
                    break
            else:
                for r in self._optims:
                    if r() is None:
                        break
                else:
                    return self._params
        self._roots = [r for r in self._roots if r() is not None]
        self._optims = [r for r in self._optims if r() is not None]
        seen, out = set(), []
        for root in [r() for r in self._roots]:
            prefix = self._names.get(id(root), "")
            prefix = prefix.split(":")[0] + ":" if ":" in prefix else ""
            for name, p in root.named_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append((prefix + name, p))
        for opt in [r() for r in self._optims]:
            for group in opt.param_groups:
                for p in group["params"]:
                    if id(p) not in seen:
                        seen.add(id(p))
                        out.append((f"param {len(out)}", p))
        self._params = out
        return self._params

    def _leaves_of(self, root, limit=10000):
        """Leaf tensors that require grad in ``root``'s graph (a hand-made model's parameters)."""
        out, seen, stack = [], set(), [root._grad_fn]
        while stack and len(seen) < limit:
            fn = stack.pop()
            if fn is None or id(fn) in seen:
                continue
            seen.add(id(fn))
            for e in getattr(fn, "_next", ()):
                if e is None:
                    continue
                if isinstance(e[0], Tensor):
                    if e[0]._requires_grad and all(t is not e[0] for t in out):
                        out.append(e[0])
                else:
                    stack.append(e[0])
        return [(f"param {i}", t) for i, t in enumerate(reversed(out))]

    # ---- forward ---------------------------------------------------------------------------
    def _pre_forward(self, module, args):
        if self._depth:
            self._depth += 1
            self._mstack.append(module)
            return
        if not self._is_watched(module):
            return
        self._depth = 1
        self._mstack = [module]
        if self.everything and id(module) not in self._watched:
            if type(module).__name__.endswith("Loss"):  # a criterion is not a model
                self._depth = 0
                return
            self._add_root(module)
        self._relu_calls = {}
        grad = _GRAD[0]
        x = args[0] if args and hasattr(args[0], "_data") else None
        self._pass = None
        if grad and module.training:
            self._passes += 1
            self._training_pass(module, x)
        elif id(module) in self._trained:
            self._eval_pass(module, x, grad)
        return

    def _post_forward(self, module, args, result):
        if not self._depth:
            return
        self._depth -= 1
        if self._mstack:
            self._mstack.pop()
        if not _GRAD[0] or not hasattr(result, "_data"):
            return
        if len(self._outs) < 1000:
            self._outs.append((module, result))
        if type(module).__name__ == "ReLU" and (self._passes - 1) % _RELU_PERIOD < _RELU_WINDOW:
            self._watch_relu(module, result._data)
        return

    def _training_pass(self, root, x):
        # counted as training only once a backward follows (see _after_backward): a forward
        # with grad on and no backward is a prediction (S1's single-image cell)
        self._pass = (root, None)
        if x is None or x._data.dtype.kind != "f" or x._data.size == 0:
            return
        stats = self._train_in.get(id(root), ())
        if len(stats) < 20 or self._passes % 50 == 0:
            a = np.abs(x._data)
            self._pass = (root, (float(a.mean()), float(a.max())))
        if self._feature_checks < 3 and x._data.ndim == 2 and 2 <= x._data.shape[1] <= 4096:
            self._feature_checks += 1
            self._check_features(x._data)

    def _check_features(self, X):
        """Input columns on very different scales (Boston's tax ~400 beside nox ~0.5)."""
        if X.shape[0] < 4:
            return
        dense = (X != 0).mean(axis=0) >= 0.5   # sparse columns (pixels, one-hot) say little
        if dense.sum() < 2:
            return
        rms = np.sqrt((X[:, dense].astype(np.float64) ** 2).mean(axis=0))
        lo, hi = int(np.argmin(rms)), int(np.argmax(rms))
        if rms[lo] > 0 and rms[hi] / rms[lo] >= 100:
            cols = np.flatnonzero(dense)
            self.report("input-scale", (
                f"the input features are on very different scales: column {cols[hi]} has "
                f"RMS {_fmt(rms[hi])}, column {cols[lo]} {_fmt(rms[lo])} "
                f"({_fmt(rms[hi] / rms[lo])}x), so one learning rate cannot suit the weights of "
                "both; standardise each feature ((X - mean) / std over the training set)"),
                key=("input-scale", "features"))

    def _eval_pass(self, root, x, grad):
        layers = self._norm_layers.get(id(root))
        if layers is None:
            layers = self._norm_layers[id(root)] = [
                (n, m) for n, m in root.named_modules() if isinstance(m, (_DropoutNd, _BatchNorm))]
        live = [f"{n} ({type(m).__name__})" for n, m in layers if m.training and not grad]
        if live:
            self.report("eval-mode", (
                f"{type(root).__name__} is evaluated under no_grad after {self.updates} "
                f"optimizer steps with {', '.join(live[:3])} still in training mode, so "
                "dropout keeps dropping and batch norm uses (and updates) batch statistics; "
                "call model.eval() before evaluating (and model.train() before training again)"))
        stats = self._train_in.get(id(root))
        if not stats or x is None or x._data.dtype.kind not in "fiu" or x._data.size == 0:
            return
        a = np.abs(x._data.astype(np.float64, copy=False))
        mean, top = float(a.mean()), float(a.max())
        ref = float(np.median([s[0] for s in stats]))
        ref_max = max(s[1] for s in stats)
        if ref <= 0 or not math.isfinite(mean):
            return
        ratio = mean / ref
        if ratio >= 10 or ratio <= 0.1:
            hint = ("divide them by 255 as ToTensor() did for training"
                    if ref_max <= 1.0 and 1.0 < top <= 255.0 else
                    "prepare them exactly as the training inputs (same transform/normalisation)")
            self.report("eval-input-drift", (
                f"inputs at evaluation have mean |x| {_fmt(mean)} (max {_fmt(top)}), but in "
                f"training {_fmt(ref)} (max {_fmt(ref_max)}): {_fmt(ratio)}x the training "
                f"scale; {hint}"))

    def _functional_relu(self, out):
        """F.relu/torch.relu called in a watched forward: watched as the module that called it."""
        if (self._depth and self._mstack and _GRAD[0] and hasattr(out, "_data")
                and (self._passes - 1) % _RELU_PERIOD < _RELU_WINDOW):
            owner = self._mstack[-1]
            if type(owner).__name__ != "ReLU":  # nn.ReLU's own call is watched by its hook
                name = self._names.get(id(owner), type(owner).__name__)
                self._watch_relu(owner, out._data, label=f"relu in {name}")

    def _watch_relu(self, module, out, label=None):
        if out.ndim < 2 or out.shape[1] < 4:
            return
        k = self._relu_calls.get(id(module), 0)
        self._relu_calls[id(module)] = k + 1
        key = (id(module), k)
        axes = (0,) + tuple(range(2, out.ndim))
        fired = (out > 0).any(axis=axes)
        ent = self._relu.get(key)
        if ent is None or ent[0].shape != fired.shape:
            self._relu[key] = ent = [fired, 0, module]
        else:
            ent[0] |= fired
        ent[1] += 1
        if ent[1] >= _RELU_WINDOW:
            dead = 1.0 - float(ent[0].mean())
            if dead >= 0.5:
                name = label or self._names.get(id(module), "ReLU")
                use = f" (its use number {k + 1} in the forward pass)" if k else ""
                self.report("dead-relu", (
                    f"{_frac(dead)} of the {fired.size} units after {name}{use} output 0 for "
                    f"every input in the last {ent[1]} training batches, so they pass no "
                    "gradient and never recover; use LeakyReLU/ELU/PReLU, a lower learning "
                    "rate, or an init that keeps pre-activations near 0 (biases >= 0)"),
                    key=("dead-relu", key))
            del self._relu[key]

    # ---- optimizer -------------------------------------------------------------------------
    def _after_step(self, opt, args, kwargs):
        if not self.everything and all(r() is not opt for r in self._optims):
            return
        self.updates += 1
        self._add_optim(opt)

    def _lr(self):
        for opt in reversed([r() for r in self._optims]):
            if opt is None:
                continue
            try:
                return float(opt.param_groups[0]["lr"]), type(opt).__name__
            except (KeyError, IndexError, TypeError, ValueError):
                pass
        return None, None

    # ---- backward --------------------------------------------------------------------------
    def _on_backward(self, root, n_nodes):
        if n_nodes is None:
            if self._pending is not root:  # the engine's fast path may hand over to the general
                self._pending = root
                self._before_backward()
                d = root._data
                if (d.size == 1 and d.dtype.kind == "f" and not np.isfinite(d).all()
                        and "nan" not in self._fired):
                    # read before backward frees the saved arrays that tell where it arose
                    self._nan_origin = _nonfinite_origin(root._grad_fn)
            return
        self._pending = None
        self._depth = 0
        if self._pass is not None:
            root_m, st = self._pass
            self._pass = None
            self._trained.add(id(root_m))
            if st is not None:
                stats = self._train_in.setdefault(id(root_m), [])
                stats.append(st)
                if len(stats) > 200:
                    del stats[:100]
        d = root._data
        if d.size != 1 or d.dtype.kind != "f":
            return
        self.step += 1
        self._after_backward(root, float(d.reshape(-1)[0]), n_nodes)

    def _before_backward(self):
        """Were the gradients reset since the last backward, and were the parameters updated?"""
        if not self._before:
            return
        # bytes of the first few values: a cheap, exact "unchanged since the last backward?"
        kept = updated = n = 0
        for p in self._probes:
            rec = self._before.get(id(p))
            if rec is None:
                continue
            gs, ps = rec
            n += 1
            g = p._grad
            if (g is not None and gs and gs.strip(b"\0")
                    and g._data.reshape(-1)[:_SAMPLE].tobytes() == gs):
                kept += 1
            if p._data.reshape(-1)[:_SAMPLE].tobytes() != ps:
                updated += 1
        if not n:
            return
        if kept * 2 > n:
            if updated * 2 > n:
                self._nz_run += 1   # stepped on, and the next backward adds to the old grads
        else:
            self._nz_run = 0
            self._nz_norms = []

    def _after_backward(self, root, loss, n_nodes):
        params = self.params()
        if not params or (self._leaf_mode and (n_nodes <= 500 or self.step % 100 == 0)):
            # a hand-made model (S2's `params`): its parameters are the graph's leaves
            params = self._leaves_of(root)
            self._leaf_mode = bool(params)
            if params:
                self._params = params
        if params is not self._sig_of:
            self._sig_of = params
            sig = {id(p) for _, p in params}
            if self._sig is not None and sig != self._sig:
                self._new_segment()
            self._sig = sig
        # Per step, two parameter tensors (the first and the last with gradients) stand for
        # all: their norms (from their first _NORM_SAMPLE values, scaled to the tensor's size:
        # the same values each step, so growth and decay ratios hold) are the "gradient norm",
        # and their values tell reset from accumulated gradients. All tensors are measured
        # every 10th step (the picture) and exactly in a run's first 5 steps (layer against
        # layer). A dot over every gradient each step would cost ~5% of S1's step.
        run = len(self.losses) + 1 - self._seg
        with_grad = [(name, p) for name, p in params if p._grad is not None
                     and p._grad._data.dtype.kind == "f"]
        probes = with_grad[:1] + with_grad[-1:] if len(with_grad) > 1 else with_grad
        full = run <= 5 or self.step % 10 == 0
        norms = []
        total = 0.0
        for name, p in (with_grad if full else probes):
            a = p._grad._data.reshape(-1)
            n = a.size
            v = _sq(a[:_NORM_SAMPLE])
            if n > _NORM_SAMPLE:
                v *= n / _NORM_SAMPLE
                if run <= 5:
                    exact = _sq(a)
                    norms.append((name, p, exact if math.isnan(exact) else math.sqrt(exact)))
            elif run <= 5:
                norms.append((name, p, v if math.isnan(v) else math.sqrt(v)))
            if full:
                self.layer_norms.setdefault(name, []).append(
                    (self.step, math.sqrt(v) if v >= 0 else v))
            if not full or any(p is q for _, q in probes):
                total += v
        gnorm = math.sqrt(total) if total >= 0 else total
        self.losses.append(loss)
        self.grad_norms.append(gnorm)
        self._probes = [p for _, p in probes]
        self._before = before = {id(p): (p._grad._data.reshape(-1)[:_SAMPLE].tobytes(),
                                         p._data.reshape(-1)[:_SAMPLE].tobytes())
                                 for p in self._probes}
        self._samples.append(before)
        if len(self._samples) > 12:
            del self._samples[0]

        if not (math.isfinite(loss) and math.isfinite(gnorm)):
            self._nan(root, loss, gnorm, norms)
            self._outs = []
            return
        self._outs = []
        self._diverging()
        if self._nz_run:
            self._nz_norms.append(gnorm)
            if self._nz_run >= 3:
                self._grads_not_zeroed()
        if run <= 3:
            self._input_scale(norms, run)
        if run <= 5:
            self._vanishing(norms)
        if run >= 2 * _STALL_WINDOW and self.step % 5 == 0:
            self._stalled()
        self._graph_leak(root, n_nodes)

    def _new_segment(self):
        """Another model or optimizer: a new run, whose evidence starts afresh."""
        self._seg = max(len(self.losses) - 1, 0)  # this backward already belongs to it
        self._nz_run, self._nz_norms = 0, []
        self._ratios, self._vanish, self._samples = [], [], []

    def _flips(self, k):
        """For each of the last ``k`` steps: did the gradient point against the step before's?"""
        out = []
        for a, b in itertools.pairwise(self._samples[-k - 1:]):
            dot = 0.0
            for key, (gb, _) in b.items():
                ga = a.get(key, (None,))[0]
                if gb and ga and len(ga) == len(gb):
                    dt = self._dtypes.get(key, np.float32)
                    dot += float(np.dot(np.frombuffer(ga, dt).astype(np.float64),
                                        np.frombuffer(gb, dt).astype(np.float64)))
            out.append(dot < 0)
        return out

    # ---- the diagnoses ---------------------------------------------------------------------
    def _diverging(self):
        L = self.losses
        if len(L) - self._seg < 4 or not L[-1] > L[-2] > L[-3] > L[-4] > 0:
            return  # the common case, in O(1)
        L = L[self._seg:]
        k = 0
        while k + 1 < len(L) and L[-1 - k] > L[-2 - k] > 0:
            k += 1
        if k < 3:
            return
        growth = L[-1] / L[-1 - k]
        if not (growth >= 100 or (k >= 8 and growth >= 10)):
            return
        G = self.grad_norms[self._seg:]
        g_growth = G[-1] / G[-1 - k] if G[-1 - k] > 0 else math.inf
        if g_growth <= 1:
            return
        factor = g_growth ** (1 / k) if math.isfinite(g_growth) else math.sqrt(growth) ** (1 / k)
        self._dtypes = {id(p): p._data.dtype for _, p in self.params()}
        flips = self._flips(min(k, len(self._samples) - 1))
        flipping = len(flips) >= 2 and all(flips)
        lr, _ = self._lr()
        per = f"x{'-' if flipping else ''}{factor:.3g} per step" + (
            " with the sign flipping each step" if flipping else "")
        # on a quadratic, plain SGD multiplies the error along the steepest direction by
        # (1 - lr*lam) each step; |1 - lr*lam| = f gives lam = (1 + f)/lr, stable for lr < 2/lam
        bound = 2 / (1 + factor)
        if lr is not None:
            fix = (f"lower the learning rate from {_fmt(lr)} to below {_fmt(lr * bound)} "
                   f"(lr * 2/(1 + {factor:.3g}); e.g. {_fmt(lr * bound / 2)})")
        else:
            fix = (f"divide the learning rate by more than {_fmt(1 / bound)} "
                   f"((1 + {factor:.3g})/2)")
        self.report("diverging", (
            f"the loss grew {_fmt(L[-1 - k])} -> {_fmt(L[-1])} over the last {k} steps "
            f"(x{_fmt(growth ** (1 / k))} per step) and the gradient norm "
            f"{_fmt(G[-1 - k])} -> {_fmt(G[-1])} ({per}); the steps overshoot: {fix}, or "
            "normalise the inputs"))

    def _nan(self, root, loss, gnorm, norms):
        what = "loss" if not math.isfinite(loss) else "gradient"
        value = loss if not math.isfinite(loss) else gnorm
        where = ""
        params = self.params() or self._params or []
        bad_params = [n for n, p in params if p._data.dtype.kind == "f"
                      and not np.isfinite(p._data).all()]
        if bad_params:
            where = (f"; parameters {', '.join(bad_params[:3])} are already non-finite (an "
                     "earlier update used a huge or non-finite gradient)")
        elif self._outs:
            first = None
            for m, out in self._outs:
                if not np.isfinite(out._data).all():
                    first = m
                    break
            if first is not None:
                where = (f"; it first appears in the output of {self._names.get(id(first), '?')}"
                         f" ({type(first).__name__})")
            elif what == "loss":
                fn = root._grad_fn
                origin = getattr(self, "_nan_origin", None)
                where = ("; the model's outputs were finite, so it arises in the loss"
                         + (f", at {origin}" if origin else
                            f" ({fn.name()})" if fn is not None else ""))
        elif what == "gradient":
            bad = [n for n, p in params if p._grad is not None and p._grad._data.dtype.kind == "f"
                   and not np.isfinite(p._grad._data).all()]
            if bad:
                where = f"; first in the gradient of {bad[0]}"
        if what == "loss" and root._grad_fn is not None and not where:
            where = f" (computed by {root._grad_fn.name()})"
        fix = ("lower the learning rate or clip gradients (nn.utils.clip_grad_norm_)"
               if len(self.losses) > 1 and any(math.isfinite(x) for x in self.losses) else
               "check the inputs and the initialisation for inf/nan")
        self.report("nan", f"the {what} is {value} at step {self.step}{where}; {fix}")

    def _stalled(self):
        if "stalled" in self._fired:
            return
        W = _STALL_WINDOW
        L, G = self.losses[-W - 1:], self.grad_norms[-W - 1:]
        if not all(math.isfinite(x) and x > 0 for x in L) or G[0] <= 0:
            return
        drops = [a - b for a, b in itertools.pairwise(L)]
        if any(d < 0 for d in drops) or sum(d > 0 for d in drops) < 0.8 * W:
            return  # not a smooth, steady descent (mini-batch noise, or an exact plateau)
        per_step = (L[0] - L[-1]) / W
        if per_step / L[-1] >= 1e-4:
            return
        rho = (G[-1] / G[0]) ** (1 / W)
        # the loss above its floor shrinks by rho^2 a step when the gradient shrinks by rho:
        # what is left to gain is per_step / (1 - rho^2), infinite if the gradient holds
        left = math.inf if rho >= 0.99999 else per_step / (1 - rho * rho)
        if left < 0.5 * L[-1]:
            return
        lr, _ = self._lr()
        rate = f"the learning rate {_fmt(lr)}" if lr is not None else "the learning rate"
        self.report("stalled", (
            f"the loss went {_fmt(L[0])} -> {_fmt(L[-1])} over the last {W} steps "
            f"({_fmt(100 * per_step / L[-1])}% a step: ~{_fmt(0.5 * L[-1] / per_step)} steps "
            f"to halve it) while the gradient norm stays {_fmt(G[-1])}; {rate} is too small "
            "for the flattest direction: raise it (by 10x, watching for 'diverging'), or "
            "normalise the inputs so one rate suits every parameter"))

    def _input_scale(self, norms, run):
        """A weight's gradient far larger than its bias's: the inputs to that layer are large."""
        by_layer: dict = {}
        small = []
        for name, p, v in norms:
            if v is None or p._data.size == 0:
                continue
            rms = v / math.sqrt(p._data.size)
            layer, _, leaf = name.rpartition(".")
            if leaf in ("weight", "bias") and not name.startswith("param "):
                by_layer.setdefault(layer, {})[leaf] = rms
            elif 2 <= p._data.size <= 4 and p._data.ndim == 1 and p._grad is not None:
                g = np.abs(p._grad._data.astype(np.float64))
                if g.min() > 0:
                    small.append((name, float(g.max()), float(g.min()),
                                  int(g.argmax()), int(g.argmin())))
        found = []
        for layer, d in by_layer.items():
            if d.get("bias", 0) > 0 and "weight" in d:
                pre = layer + "." if layer else ""
                found.append((d["weight"] / d["bias"], f"{pre}weight (RMS per element)",
                              d["weight"], f"{pre}bias", d["bias"]))
        for name, hi, lo, i, j in small:
            found.append((hi / lo, f"{name}[{i}]", hi, f"{name}[{j}]", lo))
        if found:
            self._ratios.append(max(found, key=lambda f: f[0]))
        if run < 3 or len(self._ratios) < 3:
            return
        _, opt = self._lr()
        if opt in _ADAPTIVE:
            return
        r = sorted(self._ratios, key=lambda f: f[0])[1]  # the median of three steps
        first = self._ratios[0]
        if r[0] >= 20 and first[0] >= 20:
            self.report("input-scale", (
                f"at step 1 the gradient of {first[1]} is {_fmt(first[2])} but that of "
                f"{first[3]} only {_fmt(first[4])} ({_fmt(first[0])}x): the inputs "
                "multiplying that weight are large, so a rate small enough for one parameter "
                "crawls for the other; normalise the inputs (e.g. t_un = 0.1 * t_u, or "
                "(x - mean) / std)"), key=("input-scale", "grads"))

    def _vanishing(self, norms):
        w = [(name, v / math.sqrt(p._data.size)) for name, p, v in norms
             if v is not None and p._data.ndim >= 2 and name.endswith("weight")]
        if len(w) < 3 or w[-1][1] <= 0 or w[0][1] <= 0:  # exactly 0: dead units, not this
            return
        self._vanish.append((w[0][1] / w[-1][1], w[0], w[-1], len(w)))
        if len(self._vanish) < 5:
            return
        ratios = sorted(v[0] for v in self._vanish)
        med = ratios[len(ratios) // 2]
        if med < 1e-3:
            _, first, last, n = self._vanish[-1]
            acts = sorted({type(m).__name__ for m, _ in self._outs_seen()} & {
                "Sigmoid", "Tanh", "Softsign", "Hardtanh", "LogSigmoid"})
            via = f" (through {', '.join(acts)})" if acts else ""
            self.report("vanishing-gradients", (
                f"the first of {n} weight layers, {first[0]}, gets gradients of "
                f"{_fmt(first[1])} per element, {_fmt(1 / med)}x smaller than the last, "
                f"{last[0]} ({_fmt(last[1])}){via}: the early layers hardly learn; use "
                "ReLU-family activations (with Kaiming init), normalisation layers "
                "(BatchNorm/LayerNorm), or residual connections"))
        self._vanish = []

    def _outs_seen(self):
        out = []
        for root in [r() for r in self._roots]:
            if root is not None:
                out.extend((m, None) for m in root.modules())
        return out

    def _grads_not_zeroed(self):
        G = self._nz_norms
        grow = f"; the gradient norm went {_fmt(G[0])} -> {_fmt(G[-1])}" if len(G) >= 2 else ""
        self.report("grads-not-zeroed", (
            f"the gradients were not reset across the last {self._nz_run} parameter updates: "
            f"each backward added to the previous gradients{grow}; call optimizer.zero_grad() "
            "(or p.grad.zero_() / p.grad = None) before each loss.backward()"))

    def _graph_leak(self, root, n_nodes):
        fn = root._grad_fn
        if fn is None:
            return
        G = self._graphs
        G.append((self.step, weakref.ref(fn), n_nodes))
        if len(G) <= _LEAK_AGE:
            return
        if len(G) > _LEAK_AGE + _LEAK_STEPS:
            del G[0]
        if G[-1 - _LEAK_AGE][1]() is None:  # the graph of _LEAK_AGE steps ago is gone: fine
            self._leak_run = 0
            return
        self._leak_run += 1
        if (self._leak_run < _LEAK_STEPS or self.step < self._leak_quiet_until
                or "graph-leak" in self._fired):
            return
        self._leak_quiet_until = self.step + 50  # gc.collect() below: at most once per 50 steps
        old = G[:_LEAK_STEPS]
        if any(e[1]() is None for e in old):
            return
        gc.collect()  # a graph in a reference cycle waits for the collector: not a leak
        if any(e[1]() is None for e in old):
            return
        holder, size, loss = _find_holder([e[1]() for e in old], sys._getframe(1), root)
        per = sum(e[2] for e in old) / len(old)
        if holder:
            held = (f"`{holder}` holds them ({size} autograd nodes reachable from it, growing "
                    "by about {0:.0f} a step)".format(per))
            fix = (f"accumulate a number, not the tensor: `{holder} += {loss or 'loss'}.item()`"
                   f" (or `{loss or 'loss'}.detach()`)")
        else:
            held = f"about {per:.0f} nodes a step"
            fix = "store loss.item() or loss.detach(), not the loss tensor"
        self.report("graph-leak", (
            f"the autograd graphs of the last {len(old)} steps (from step {old[0][0]}) are "
            f"all still alive after their backward: {held}, so memory and time grow with the "
            f"step count; {fix}"))


def _sq(a) -> float:
    """The sum of squares; in float64 when float32 overflows (gradients of 1e20 are finite)."""
    v = float(np.dot(a, a))
    if not math.isfinite(v) and a.dtype != np.float64:
        v = float(np.dot(a.astype(np.float64), a.astype(np.float64)))
    return v


def _find_holder(nodes, frame, root, limit=200000):
    """(name of a variable in the calling frames whose graph reaches one of ``nodes``, the size
    of that graph, the name the loss ``root`` goes by there)."""
    targets = {id(n) for n in nodes if n is not None}
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    while frame is not None:
        if not os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
            items = list(frame.f_locals.items())  # a script's are its globals
            loss = next((n for n, v in items if v is root), None)
            for name, value in items:
                if (isinstance(value, Tensor) and value._grad_fn is not None
                        and id(value._grad_fn) not in targets):
                    size, hit = _reach(value._grad_fn, targets, limit)
                    if hit:
                        return name, size, loss
        frame = frame.f_back
    return None, 0, None


def _reach(fn, targets, limit):
    seen, stack, hit = set(), [fn], False
    while stack and len(seen) < limit:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if id(f) in targets:
            hit = True
        for e in getattr(f, "_next", ()):
            if e is not None and not hasattr(e[0], "_data"):
                stack.append(e[0])
    return len(seen), hit


def _checked(doc, orig):
    def cross_entropy(input, target, *args, **kwargs):
        doc._ce_calls += 1
        n = doc._ce_calls
        if (n <= 20 or n % 100 == 0) and getattr(input, "_data", None) is not None:
            x = input._data
            if x.ndim >= 2 and x.dtype.kind == "f" and x.shape[1] >= 2 and x.size:
                lo, hi = float(x.min()), float(x.max())
                if lo >= 0 and hi <= 1:
                    s = x.sum(axis=1)
                    if np.abs(s - 1).max() < 1e-3:
                        fn = input._grad_fn
                        made = f" (made by {fn.name()})" if fn is not None else ""
                        doc.report("softmax-into-cross-entropy", (
                            f"cross_entropy got probabilities{made}: every row is in [0, 1] and "
                            "sums to 1, but cross_entropy applies log_softmax itself, so the "
                            "softmax is applied twice and the loss cannot fall below "
                            f"{_fmt(float(np.log(x.shape[1] - 1 + math.e)) - 1)} (flat "
                            "gradients); "
                            "pass the logits (drop the final Softmax), or use nll_loss on "
                            "log_softmax"))
        return orig(input, target, *args, **kwargs)

    cross_entropy.__doc__ = orig.__doc__
    cross_entropy.__wrapped__ = orig
    return cross_entropy


def _watched_relu(doc, orig):
    def relu(input, *args, **kwargs):
        out = orig(input, *args, **kwargs)
        doc._functional_relu(out)
        return out

    relu.__doc__, relu.__wrapped__, relu._doctor = orig.__doc__, orig, doc
    return relu


def _ce_property(self):
    fn = self.__dict__.get("_ce_fn")
    if fn is None:
        fn = self.__dict__["_ce_fn"] = _checked(self, self._ce_orig)
    return fn


Doctor._checked_cross_entropy = property(_ce_property)
