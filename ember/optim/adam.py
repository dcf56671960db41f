"""Adam (and, with decoupled weight decay, AdamW): adaptive moment estimation."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from .optimizer import (
    Optimizer,
    _bump,
    _check_betas,
    _check_flags,
    _check_lr,
    _check_nonneg,
    _closure_loss,
    _get_scalar_dtype,
    _scalar_tensor,
    _to_scalar,
    _value,
    _zeros_like,
)

__all__ = ["Adam", "adam"]


class Adam(Optimizer):
    """Implements Adam (Kingma & Ba), with PyTorch's options, defaults and state layout.

    ``foreach``, ``fused`` and ``capturable`` select PyTorch kernels; they are accepted and
    validated, and ember runs its single NumPy implementation for all of them.
    """

    def __init__(self, params, lr: float | Tensor = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError(
                "lr as a Tensor is not supported for capturable=False and foreach=True")
        _check_lr(lr)
        _check_nonneg(epsilon=eps)
        _check_betas(betas)
        _check_nonneg(weight_decay=weight_decay)
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
            raise ValueError("betas must be either both floats or both Tensors")
        for i in (0, 1):
            if isinstance(betas[i], Tensor):
                if not capturable and foreach:
                    raise ValueError(f"betas[{i}] as a Tensor is not supported for "
                                     "capturable=False and foreach=True")
                if betas[i].numel() != 1:
                    raise ValueError(f"Tensor betas[{i}] must be 1-element")
        betas = tuple(map(_to_scalar, betas))

        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        _check_flags(differentiable, fused, foreach)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(amsgrad=False, maximize=False, foreach=None, capturable=False,
                                differentiable=False, decoupled_weight_decay=False, fused=None)
        self._steps_to_tensors("step")

    def _init_state(self, st, p, group):
        # step is a float32 (or default-float) 0-dim tensor, as in PyTorch 2.x
        st["step"] = _scalar_tensor(0.0, _get_scalar_dtype(is_fused=group["fused"]))
        st["exp_avg"] = _zeros_like(p)
        st["exp_avg_sq"] = _zeros_like(p)
        if group["amsgrad"]:
            st["max_exp_avg_sq"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = None if closure is None else _closure_loss(closure)
        state = self.state
        scratch = self._scratch()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            hyper = tuple(map(_value, (group["lr"], beta1, beta2, group["weight_decay"],
                                       group["eps"])))
            amsgrad, maximize = group["amsgrad"], group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            k = key = None
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                st = state[p]
                if len(st) == 0:
                    self._init_state(st, p, group)
                a = p._data
                step = _count_step(st["step"]._data)
                if key != (step, a.dtype):  # (the params of a group share their step count)
                    key = (step, a.dtype)
                    k = _adam_scalars(*hyper, step, a.dtype, decoupled)
                _adam_param(a, g._data, st["exp_avg"]._data, st["exp_avg_sq"]._data,
                            st["max_exp_avg_sq"]._data if amsgrad else None, scratch.get(p, a),
                            k, maximize, decoupled)
                p._vc[0] += 1  # _bump(p)
        return loss


def adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
         exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor], state_steps: list[Tensor],
         foreach=None, capturable=False, differentiable=False, fused=None, grad_scale=None,
         found_inf=None, has_complex=False, decoupled_weight_decay: bool = False, *,
         amsgrad: bool, beta1, beta2, lr, weight_decay: float, eps: float,
         maximize: bool) -> None:
    """Functional Adam: updates ``params`` and the moment tensors in place."""
    hyper = tuple(map(_value, (lr, beta1, beta2, weight_decay, eps)))
    for i, param in enumerate(params):
        p = param._data
        step = _count_step(state_steps[i]._data)
        _adam_param(p, grads[i]._data, exp_avgs[i]._data, exp_avg_sqs[i]._data,
                    max_exp_avg_sqs[i]._data if amsgrad else None, xp.empty_like(p),
                    _adam_scalars(*hyper, step, p.dtype, decoupled_weight_decay), maximize,
                    decoupled_weight_decay)
        _bump(param)


def _count_step(step_t: xp.ndarray) -> float:
    """``step_t += 1`` on the 0-d step counter (same rounding, no ufunc call); the new count."""
    step_t[()] = float(step_t) + 1.0
    return float(step_t)


def _adam_scalars(lr: float, beta1: float, beta2: float, weight_decay: float, eps: float,
                  step: float, dtype, decoupled: bool) -> tuple:
    """The scalars of one Adam step (see ``_adam_param``), as 0-d arrays of the params' dtype.

    A ufunc rounds a Python float operand to the array's dtype, as this does, but a float
    operand costs ~0.25 us more per call than a 0-d array, and a step makes six to seven such
    calls per parameter; the params of a group share one tuple.
    """
    bc2_sqrt = (1 - beta2**step) ** 0.5  # PyTorch: bias_correction2 ** 0.5 (_dispatch_sqrt)
    step_size = lr / (1 - beta1**step)
    # The regroupings scale m by beta1 / (1 - beta1) and square g first: in float16 those
    # overflow where PyTorch's order does not (|m| > 65504 / 99, |g| > 256), so it and other
    # dtypes keep PyTorch's order.
    wide = dtype in _WIDE
    w = 1 - beta1
    if 0.01 <= w < 0.5 and wide:  # m = (m * (beta1 / w) + g) * w
        mode, a1, a2 = _SCALED, beta1 / w, w
    else:  # m.lerp_(g, w) as PyTorch computes it (two formulas, exact at w = 0 and w = 1)
        mode, a1, a2 = (_LERP_LOW, w, 0.0) if w < 0.5 else (_LERP_HIGH, 1 - w, 0.0)
    consts = [a1, a2, 1 - beta2, beta2, eps * bc2_sqrt, -step_size * bc2_sqrt]
    # weight decay: decoupled, param.mul_(1 - lr * wd); else (L2) grad.add(param, alpha=wd)
    decay = (1 - lr * weight_decay if decoupled else weight_decay) if weight_decay != 0 else None
    return (mode, wide, *[xp.array(x, dtype) for x in consts],
            None if decay is None else xp.array(decay, dtype))


_SCALED, _LERP_LOW, _LERP_HIGH = 0, 1, 2
_WIDE = (xp.dtype(xp.float32), xp.dtype(xp.float64))


def _adam_param(p: xp.ndarray, g: xp.ndarray, m: xp.ndarray, v: xp.ndarray, vmax,
                s: xp.ndarray, k: tuple, maximize: bool, decoupled: bool) -> None:
    """One parameter's Adam step, in place on ``p``, ``m``, ``v`` (and ``vmax``).

    ``s`` is a work array shaped like ``p``; ``k`` is the step's ``_adam_scalars``. The arrays
    are large (the seeds' MLP: 269k floats) and a NumPy pass costs ~7 us per 200k floats for
    each array it reads or writes (in place on one array: ~8 us; a + b -> c: ~22 us), so the
    passes are few, mostly in place, and make no temporaries. PyTorch's formulas,

        m = m + (1 - beta1) * (g - m)                   m.lerp_(g, 1 - beta1)
        v = v * beta2 + ((1 - beta2) * g) * g
        p = p - step_size * m / (sqrt(v) / bc2_sqrt + eps),

    take 13 passes (23 array touches) and 5 temporaries; these regroupings take 12 (19):

        m = (m * (beta1 / (1 - beta1)) + g) * (1 - beta1)    (0.01 <= 1 - beta1 < 0.5, else
                                                              PyTorch's lerp: 3 passes, 6)
        v = v * beta2 + (1 - beta2) * g**2
        p = p + (-step_size * bc2_sqrt) * m / (sqrt(v) + eps * bc2_sqrt)

    They round differently from PyTorch by an ulp or two per step: tests/optim compares 40
    steps with PyTorch at 2e-5 relative in float32 and 1e-12 in float64. (float16 and other
    dtypes keep PyTorch's m and v: there the first two lines would overflow early.)
    """
    mode, wide, a1, a2, c2, beta2, eps, neg_step_size, decay = k
    if maximize:
        g = xp.negative(g)
    if decay is not None:
        if decoupled:
            multiply(p, decay, p)
        else:
            g = g + multiply(p, decay)

    if mode == _SCALED:  # m = beta1 * m + (1 - beta1) * g
        multiply(m, a1, m)
        add(m, g, m)
        multiply(m, a2, m)
    else:  # m.lerp_(g, w)
        subtract(g, m, s)
        multiply(s, a1, s)
        if mode == _LERP_HIGH:
            subtract(g, s, m)
        else:
            add(m, s, m)
    if wide:  # v = beta2 * v + (1 - beta2) * g**2
        square(g, s)
        multiply(s, c2, s)
    else:  # v = v * beta2 + ((1 - beta2) * g) * g
        multiply(g, c2, s)
        multiply(s, g, s)
    multiply(v, beta2, v)
    add(v, s, v)

    if vmax is not None:  # amsgrad: the largest v so far
        maximum(vmax, v, out=vmax)
        v = vmax
    sqrt(v, s)
    add(s, eps, s)
    divide(m, s, s)
    multiply(s, neg_step_size, s)
    add(p, s, p)


add, subtract, multiply, divide = xp.add, xp.subtract, xp.multiply, xp.divide
square, sqrt, maximum = xp.square, xp.sqrt, xp.maximum
