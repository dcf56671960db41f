"""Optimizer: the base class of every optimizer (param groups, lazy state, hooks, state_dict).

The layout of ``param_groups``, ``state`` and ``state_dict()`` is PyTorch's, so checkpoints and
schedulers written for PyTorch work unchanged. Subclasses update parameters in place on the
NumPy arrays (``p._data``) and record no graph.
"""
from __future__ import annotations

import functools
import itertools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any, ClassVar

from .. import _dtype, typename
from .._backend import xp
from .._grad_mode import _state as _grad_state
from .._tensor import Tensor, _make
from ..utils.hooks import RemovableHandle

__all__ = ["Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]


class _RequiredParameter:
    """Singleton marking a hyper-parameter that every param group must set."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


_global_optimizer_pre_hooks: OrderedDict = OrderedDict()
_global_optimizer_post_hooks: OrderedDict = OrderedDict()


def register_optimizer_step_pre_hook(hook: Callable) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run before every optimizer's step."""
    return _register(_global_optimizer_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run after every optimizer's step."""
    return _register(_global_optimizer_post_hooks, hook)


def _register(hooks: OrderedDict, hook: Callable, prepend: bool = False) -> RemovableHandle:
    """Add ``hook`` to ``hooks`` (last, or first with ``prepend``); its handle removes it."""
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def _hook_registrar(hooks_attr: str, what: str):
    """An Optimizer method ``register_<...>_hook(hook, prepend=False)`` adding to ``hooks_attr``."""

    def register(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        return _register(getattr(self, hooks_attr), hook, prepend)

    register.__name__ = "register_" + hooks_attr[len("_optimizer_"):-1]
    register.__qualname__ = "Optimizer." + register.__name__
    register.__doc__ = f"Register {what}; ``prepend`` puts it before the others."
    return register


# ---- the plumbing the optimizers share --------------------------------------------------------
def _get_scalar_dtype(is_fused=None):
    """dtype of step counters: float32, or float64 when that is the default dtype."""
    if is_fused:
        return xp.dtype(xp.float32)
    if _dtype.get_default_dtype() is _dtype.float64:
        return xp.dtype(xp.float64)
    return xp.dtype(xp.float32)


def _scalar_tensor(value, dtype=None) -> Tensor:
    """A 0-dim state tensor (``state['step']`` and friends) holding ``value``."""
    dt = _get_scalar_dtype() if dtype is None else dtype
    return _make(xp.array(value, dtype=dt), False, None, 0)


def _step_counter(group: dict) -> Tensor:
    """``state['step']`` of a new param: 0 as a 0-dim float32 (or default-float) tensor."""
    return _scalar_tensor(0.0, _get_scalar_dtype(is_fused=group.get("fused")))


def _zeros(p: Tensor) -> Tensor:
    """A state tensor of zeros like ``p``."""
    return _make(xp.zeros_like(p._data), False, None, 0)


def _to_scalar(x):
    """A 1-element tensor hyper-parameter as a 0-dim tensor; anything else unchanged."""
    if isinstance(x, Tensor) and x.dim() != 0:
        return x.squeeze()
    return x


def _value(x) -> float:
    """A hyper-parameter (number or 1-element tensor) as a Python float.

    Python floats are "weak" in NumPy's promotion, so float32 arrays stay float32 and the
    scalar is rounded to float32 first, which is what PyTorch's kernels do.
    """
    return float(x.item() if isinstance(x, Tensor) else x)


def _check(**values) -> None:
    """PyTorch's checks of an optimizer's arguments, in the order given, with its messages.

    ``lr``: a tensor lr has one element, and lr >= 0; ``betas``: each in [0, 1); the flags
    ``differentiable``, ``fused``, ``foreach`` (see ``_check_flags``; pass them after the
    group is built, as PyTorch checks them); any other value: >= 0 (``Invalid <name> value``).
    NaN fails every check, as in PyTorch.
    """
    for name, value in values.items():
        if name == "lr":
            if isinstance(value, Tensor) and value.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
            if not 0.0 <= value:
                raise ValueError(f"Invalid learning rate: {value}")
        elif name == "betas":
            for i, beta in enumerate(value):
                if not 0.0 <= beta < 1.0:
                    raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        elif name not in _FLAGS and not 0.0 <= value:
            raise ValueError(f"Invalid {name} value: {value}")
    if "differentiable" in values:
        _check_flags(*(values.get(flag) for flag in _FLAGS))


_FLAGS = ("differentiable", "fused", "foreach")


def _check_flags(differentiable=False, fused=None, foreach=None) -> None:
    # fused and foreach select PyTorch kernels; ember has one implementation, so they are
    # accepted for compatibility and validated as PyTorch validates them.
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError(
            "differentiable=True is not supported: ember's optimizers update the parameters in "
            "place on their arrays and record no graph through step()")


def _updates(params, grads, *states, steps=None, maximize=False, weight_decay=0.0, lr=0.0,
             decoupled=False):
    """The loop of every functional form: for each param, the arrays its formula updates.

    Yields ``(p, g, *states)`` as NumPy arrays, and ``step`` after them where ``steps`` is
    given. The caller updates ``p`` and the states in place (a state list given as None yields
    None). ``g`` is the gradient the step follows: negated for ``maximize``, plus
    ``weight_decay * p`` (L2), or with ``decoupled`` (AdamW's) no change to ``g`` and ``p``
    shrunk by ``1 - lr * weight_decay`` first. ``step`` is the param's counter in ``steps``,
    counted before the yield. After the caller's update the param's version is bumped.
    """
    arrays = [itertools.repeat(None) if s is None else [None if t is None else t._data for t in s]
              for s in states]
    counters = itertools.repeat(None) if steps is None else steps
    for param, grad, counter, *state in zip(params, grads, counters, *arrays):
        p = param._data
        g = grad._data
        if maximize:
            g = xp.negative(g)
        if weight_decay != 0:
            if decoupled:
                p *= 1 - lr * weight_decay
            else:
                g = g + xp.multiply(p, weight_decay)  # grad.add(param, alpha=weight_decay)
        if counter is None:
            yield (p, g, *state)
        else:
            yield (p, g, *state, _count(counter._data))
        param._vc[0] += 1  # an in-place update is a new version (saved tensors notice)


def _count(step_t: xp.ndarray) -> float:
    """``step_t += 1`` on a 0-d counter (the same rounding, no ufunc call); the new count."""
    step_t[()] = float(step_t) + 1.0
    return float(step_t)


def _lerp_(a: xp.ndarray, b: xp.ndarray, w: float) -> None:
    """a.lerp_(b, w) in place with PyTorch's two-sided formula (exact at w=0 and w=1)."""
    if abs(w) < 0.5:
        t = xp.subtract(b, a)
        t *= w
        a += t
    else:
        t = xp.subtract(b, a)
        t *= 1 - w
        xp.subtract(b, t, out=a)


def _addcmul_(a: xp.ndarray, t1: xp.ndarray, t2: xp.ndarray, value: float) -> None:
    """a.addcmul_(t1, t2, value=value): a + (value * t1) * t2, PyTorch's order."""
    t = xp.multiply(t1, value)
    t *= t2
    a += t


class _Scratch:
    """Reusable work arrays for step(), so a fused kernel needs no large temporaries.

    One flat buffer per dtype, as large as the largest param seen, and per param a cached view
    of it in the param's shape: params are updated one after another, so they can share it
    (extra memory: the largest param, not a copy of every param). It is no part of ``state``:
    ``state_dict()``, pickling and deepcopy never see it, and ``load_state_dict`` drops it.
    """

    __slots__ = ("bases", "views")

    def __init__(self) -> None:
        self.bases: dict = {}
        self.views: dict = {}

    def get(self, p, a: xp.ndarray) -> xp.ndarray:
        """A scratch array with the shape and dtype of ``a`` (``p``'s data); contents undefined.

        ``p`` (a param, or its array) only names the view that is cached for it.
        """
        # keyed by id: any array of the right shape and dtype will do, even after a param dies
        s = self.views.get(id(p))
        if s is not None and s.shape == a.shape and s.dtype == a.dtype:
            return s
        base = self.bases.get(a.dtype)
        if base is None or base.size < a.size:
            if base is not None:  # drop the views of the old buffer, which keep it alive
                for k in [k for k, v in self.views.items() if v.base is base]:
                    del self.views[k]
            base = self.bases[a.dtype] = xp.empty(max(a.size, 1), a.dtype)
        s = self.views[id(p)] = base[:a.size].reshape(a.shape)
        return s


def _bump(p: Tensor) -> None:
    # An in-place update of a parameter is a new version (graphs that saved it must notice).
    p._vc[0] += 1


# ---- step(): hooks, and silent overflow --------------------------------------------------------
# PyTorch's steps overflow to inf/nan silently. ember's warning filter (ember/__init__.py) hides
# NumPy's RuntimeWarnings, but under ``warnings.simplefilter("error")`` or ``seterr(all="raise")``
# a ufunc would raise in the middle of an in-place update, leaving the optimizer half-stepped; so
# step() runs under ``xp.errstate(all="ignore")`` (about 1 us a step).
def _hooked_step(step, self, args, kwargs):
    """The general case of ``_wrap_step``: step hooks, or a step called from a step."""
    d = self.__dict__
    if d.get("_in_step"):  # a subclass's step calling super().step()
        return step(self, *args, **kwargs)
    for pre_hook in itertools.chain(_global_optimizer_pre_hooks.values(),
                                    self._optimizer_step_pre_hooks.values()):
        result = pre_hook(self, args, kwargs)
        if result is not None:
            if isinstance(result, tuple) and len(result) == 2:
                args, kwargs = result
            else:
                raise RuntimeError(f"{step} must return None or a tuple of (new_args, "
                                   f"new_kwargs), but got {result}.")
    d["_in_step"] = True
    try:
        with xp.errstate(all="ignore"):
            out = step(self, *args, **kwargs)
    finally:
        d["_in_step"] = False
    for post_hook in itertools.chain(self._optimizer_step_post_hooks.values(),
                                     _global_optimizer_post_hooks.values()):
        post_hook(self, args, kwargs)
    return out


def _wrap_step(step):
    """Run the global and per-instance step hooks around ``step`` (PyTorch's profile_hook_step).

    Overflow to inf/nan is a result, as in PyTorch, not a NumPy warning: the step runs with
    NumPy's floating-point errors ignored. The common case (no hooks, not nested) skips the hook
    machinery: it runs every step, and small steps take microseconds.
    """

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        d = self.__dict__
        if (d.get("_in_step") or _global_optimizer_pre_hooks or _global_optimizer_post_hooks
                or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks):
            return _hooked_step(step, self, args, kwargs)
        d["_in_step"] = True
        try:
            with xp.errstate(all="ignore"):
                return step(self, *args, **kwargs)
        finally:
            d["_in_step"] = False

    wrapper.hooked = True
    return wrapper


def _closure_loss(closure):
    """Evaluate a step closure with grad enabled, as PyTorch does."""
    if closure is None:
        return None
    prev = _grad_state[0]
    _grad_state[0] = True
    try:
        return closure()
    finally:
        _grad_state[0] = prev


class Optimizer:
    """Base class for all optimizers.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts defining
    parameter groups; ``defaults`` holds the options a group does not set.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "hooked", False):
            cls.step = _wrap_step(step)

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict = OrderedDict()

        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + typename(params))

        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]

        for param_group in param_groups:
            self.add_param_group(param_group)

    # ---- pickling / copying ----------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    # For __setstate__: the options PyTorch added over its versions, with the values a param group
    # from an older checkpoint gets (each where the optimizer has the option), and (set by
    # subclasses) the state counters older versions stored as numbers.
    _group_defaults: ClassVar[dict[str, Any]] = {
        "foreach": None, "maximize": False, "differentiable": False, "capturable": False,
        "fused": None, "amsgrad": False, "decoupled_weight_decay": False, "momentum": 0,
        "centered": False, "nesterov": False}
    _counters: tuple[str, ...] = ()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())
        self.defaults.setdefault("differentiable", False)
        for group in self.param_groups:
            for key, value in self._group_defaults.items():
                if key in self.defaults:
                    group.setdefault(key, value)
        self._steps_to_tensors(*self._counters)

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            format_string += "\n"
            format_string += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    format_string += f"    {key}: {group[key]}\n"
        format_string += ")"
        return format_string

    # ---- hooks ---------------------------------------------------------------------------------
    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Register ``hook(optimizer, args, kwargs) -> None or (args, kwargs)`` before step."""
        return _register(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """Register ``hook(optimizer, args, kwargs)`` to run after step."""
        return _register(self._optimizer_step_post_hooks, hook)

    register_state_dict_pre_hook = _hook_registrar(
        "_optimizer_state_dict_pre_hooks", "``hook(optimizer)`` to run before state_dict()")
    register_state_dict_post_hook = _hook_registrar(
        "_optimizer_state_dict_post_hooks",
        "``hook(optimizer, state_dict) -> state_dict or None`` to run after state_dict()")
    register_load_state_dict_pre_hook = _hook_registrar(
        "_optimizer_load_state_dict_pre_hooks",
        "``hook(optimizer, state_dict) -> state_dict or None`` to run before loading")
    register_load_state_dict_post_hook = _hook_registrar(
        "_optimizer_load_state_dict_post_hooks",
        "``hook(optimizer)`` to run after load_state_dict()")

    # ---- state_dict ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The state as ``{'state': {index: {...}}, 'param_groups': [{..., 'params': [...]}]}``."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)

        param_mappings: dict[int, int] = {}
        start_index = 0

        def pack_group(group):
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update({id(p): i for i, p in enumerate(group["params"], start_index)
                                   if id(p) not in param_mappings})
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(param_mappings[id(k)] if isinstance(k, Tensor) else k): v
                        for k, v in self.state.items()}
        state_dict = {"state": packed_state, "param_groups": param_groups}

        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    @staticmethod
    def _process_value_according_to_param_policy(param, value, param_id, param_groups, key=None):
        # Floating-point state follows the param's dtype; 'step' keeps its own (float32)
        # unless the group is fused/capturable, as in PyTorch (pytorch/pytorch#74424).
        fused = capturable = False
        for pg in param_groups:
            if param_id in pg["params"]:
                fused = pg.get("fused", False)
                capturable = pg.get("capturable", False)
                break
        arr = value._data
        if key == "step":
            if capturable or fused:
                arr = arr.astype(xp.float32, copy=False)
        elif param._data.dtype.kind == "f":
            arr = arr.astype(param._data.dtype, copy=False)
        if arr is value._data:
            if arr.flags.writeable:
                return value
            arr = arr.copy()  # state is updated in place: a read-only array must be copied
        return _make(arr, False, None, 0)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load the optimizer state from a ``state_dict()`` (of this or a matching optimizer)."""
        state_dict = state_dict.copy()  # shallow, as nn.Module does
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result

        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])

        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")

        id_map = dict(zip(itertools.chain.from_iterable(g["params"] for g in saved_groups),
                          itertools.chain.from_iterable(g["params"] for g in groups)))

        def _cast(param, value, param_id=None, param_groups=None, key=None):
            if isinstance(value, Tensor):
                return Optimizer._process_value_according_to_param_policy(
                    param, value, param_id, param_groups, key)
            if isinstance(value, dict):
                return {k: _cast(param, v, param_id=param_id, param_groups=param_groups, key=k)
                        for k, v in value.items()}
            if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
                return type(value)(_cast(param, v, param_id=param_id, param_groups=param_groups)
                                   for v in value)
            return value

        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(param, v, param_id=k, param_groups=state_dict["param_groups"])
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__dict__.pop("_scratch_arrays", None)
        self.__setstate__({"state": state, "param_groups": param_groups})

        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    # ---- gradients and steps -----------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors (to None by default)."""
        if set_to_none:  # (the default, run every iteration: kept short)
            for group in self.param_groups:
                for p in group["params"]:
                    if p._grad is not None:
                        p._grad = None
            return
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is not None:
                    if g._grad_fn is not None:
                        g.detach_()
                    else:
                        g._requires_grad = False
                    if g._data.flags.writeable:
                        g._data[...] = 0
                    else:  # a broadcast view from the engine: replace, don't write
                        g._data = xp.zeros(g._data.shape, g._data.dtype)
                    g._vc[0] += 1

    def step(self, closure=None):
        """Perform a single optimization step (subclasses implement it)."""
        raise NotImplementedError

    def _scratch(self) -> _Scratch:
        """This optimizer's work arrays (created on first use; see ``_Scratch``)."""
        s = self.__dict__.get("_scratch_arrays")
        if s is None:
            s = self._scratch_arrays = _Scratch()
        return s

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group (a dict with ``params`` and optional per-group options)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")

        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. Please "
                            "use a list instead.")
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) == len(tensors):
                param_group["param_names"] = names
            else:
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + typename(param))
            if not self.defaults.get("differentiable", None) and not (
                    param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len(set(params)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)

        param_set: set = set()
        for group in self.param_groups:
            param_set.update(set(group["params"]))
            if ("param_names" in param_group) != ("param_names" in group):
                current = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {current} to the optimizer")

        if not param_set.isdisjoint(set(param_group["params"])):
            raise ValueError("some parameters appear in more than one parameter group")

        self.param_groups.append(param_group)

    # The helpers below keep each optimizer's step short.
    _zero_state: tuple[str, ...] = ()  # (see _init_state)

    def _init_state(self, state: dict, p: Tensor, group: dict[str, Any], **scalars) -> None:
        """A param's state on its first step, in PyTorch's order: ``step`` (a 0-dim counter),
        the ``scalars`` as 0-dim tensors, then zeros like ``p`` for each name in
        ``_zero_state``. Subclasses with more state extend this."""
        state["step"] = _step_counter(group)
        for key, value in scalars.items():
            state[key] = _scalar_tensor(value)
        for key in self._zero_state:
            state[key] = _zeros(p)

    def _gather(self, group: dict[str, Any], *keys) -> tuple[list, ...]:
        """``(params, grads, *state lists)`` for the params of ``group`` that have a grad.

        A param's state is created by ``self._init_state(state, p, group)`` on first use; one
        list per key follows, holding ``state[key]`` of each param (a falsy key, as in
        ``amsgrad and "max_exp_avg_sq"``, gives an empty list: the state is not used).
        """
        state = self.state
        params, grads = [], []
        lists = [[] for _ in keys]
        used = [(lst, key) for lst, key in zip(lists, keys) if key]
        for p in group["params"]:
            if p._grad is None:
                continue
            params.append(p)
            grads.append(p._grad)
            st = state[p]
            if len(st) == 0:
                self._init_state(st, p, group)
            for lst, key in used:
                lst.append(st[key])
        return (params, grads, *lists)

    def _steps_to_tensors(self, *keys, dtype=None) -> None:
        """Checkpoints from old PyTorch versions store counters as numbers: make them tensors."""
        for group in self.param_groups:
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0:
                    for key in keys:
                        if key in p_state and not isinstance(p_state[key], Tensor):
                            p_state[key] = _scalar_tensor(float(p_state[key]), dtype)

