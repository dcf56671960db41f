"""Adafactor: Adam-like steps with a factored (row x column) second-moment estimate."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor, _make
from .optimizer import Optimizer, _closure_loss, _lerp_, _updates, _value, _zeros

__all__ = ["Adafactor", "adafactor"]


class Adafactor(Optimizer):
    """Implements Adafactor (Shazeer & Stern) as in PyTorch >= 2.5.

    Parameters with two or more dims keep a row and a column variance (memory O(n + m) for an
    n x m matrix); vectors and scalars keep a full ``variance``.
    """

    def __init__(self, params, lr: float | Tensor = 1e-2, beta2_decay: float = -0.8,
                 eps=(None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach: bool | None = None, maximize: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    _counters = ("step",)

    def _init_state(self, st, p, group):
        super()._init_state(st, p, group)
        g = p._grad._data
        if g.ndim > 1:
            st["row_var"] = _make(xp.zeros(g.shape[:-1] + (1,), g.dtype), False, None, 0)
            st["col_var"] = _make(xp.zeros(g.shape[:-2] + (1, g.shape[-1]), g.dtype),
                                  False, None, 0)
        else:
            st["variance"] = _zeros(p._grad)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, steps = self._gather(group, "step")
            # matrices keep row_var and col_var, vectors a variance: the others are None
            states = [self.state[p] for p in params]
            row_vars = [st.get("row_var") for st in states]
            col_vars = [st.get("col_var") for st in states]
            variances = [st.get("variance") for st in states]
            eps1, eps2 = group["eps"]
            adafactor(params, grads, row_vars, col_vars, variances, steps, d=group["d"],
                      lr=group["lr"], beta2_decay=group["beta2_decay"],
                      weight_decay=group["weight_decay"], eps1=eps1, eps2=eps2,
                      maximize=group["maximize"])
        return loss


def _sq_norm_along(g: xp.ndarray, axis: int) -> xp.ndarray:
    """norm(g, dim=axis, keepdim=True).square_(), rounded as PyTorch rounds it."""
    n = xp.sqrt(xp.sum(xp.multiply(g, g), axis=axis, keepdims=True))
    return xp.multiply(n, n, out=n)


def adafactor(params, grads, row_vars, col_vars, variances, state_steps, foreach=None,
              grad_scale=None, found_inf=None, has_complex=False, *, d, lr, beta2_decay,
              weight_decay, eps1, eps2, maximize) -> None:
    """Functional Adafactor: updates ``params`` and the variance estimates in place."""
    d, lr, beta2_decay, weight_decay, eps2 = map(_value, (d, lr, beta2_decay, weight_decay, eps2))
    for p, g, row_var, col_var, variance, step in _updates(
            params, grads, row_vars, col_vars, variances, steps=state_steps, maximize=maximize):
        if eps1 is None:
            # (PyTorch sets it from the first parameter's dtype and keeps it for the others)
            eps1 = float(xp.finfo(p.dtype).eps)

        one_minus_beta2_t = step**beta2_decay
        rho_t = min(lr, 1 / (step**0.5))
        p_norm = float(xp.sqrt(xp.sum(xp.square(p, dtype=xp.float64))))
        alpha = max(eps2, p_norm / (p.size**0.5)) * rho_t
        if weight_decay != 0:
            p *= 1 - lr * weight_decay

        if g.ndim > 1:
            row_mean = _sq_norm_along(g, -1)
            row_mean /= g.shape[-1]
            _lerp_(row_var, row_mean, one_minus_beta2_t)
            col_mean = _sq_norm_along(g, -2)
            col_mean /= g.shape[-2]
            _lerp_(col_var, col_mean, one_minus_beta2_t)
            var_estimate = xp.matmul(row_var, col_var)
            var_estimate /= xp.maximum(xp.mean(row_var, axis=-2, keepdims=True), eps1)
        else:
            _lerp_(variance, xp.multiply(g, g), one_minus_beta2_t)
            var_estimate = xp.array(variance, copy=True)
        xp.maximum(var_estimate, eps1 * eps1, out=var_estimate)
        update = xp.sqrt(var_estimate, out=var_estimate)
        xp.reciprocal(update, out=update)
        update *= g
        u_norm = float(xp.sqrt(xp.sum(xp.square(update, dtype=xp.float64))))
        denom = max(1.0, u_norm / ((update.size**0.5) * d))
        p -= xp.multiply(update, alpha / denom)
