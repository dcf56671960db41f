"""gradcheck / gradgradcheck: backward against central finite differences, as in PyTorch.

Both compare full Jacobians: the numerical one perturbs each input element by ``eps`` (one
forward pair per element, which is inherent to finite differences), the analytical one runs
one backward per output element. Use float64 inputs and small sizes.
"""
from __future__ import annotations

import warnings

from .._backend import xp
from .._tensor import Tensor, _make
from ..autograd import grad as _grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck and gradgradcheck when a check fails."""


def _as_tuple(x):
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _differentiable_outputs(outputs):
    return tuple(o for o in outputs if isinstance(o, Tensor) and o._requires_grad)


def _numerical_jacobian(func, inputs, outputs, eps):
    """J[i][j]: (numel of input i, numel of output j), by central differences."""
    jac = []
    for x in inputs:
        if not (isinstance(x, Tensor) and x._requires_grad):
            jac.append(None)
            continue
        flat = x._data.reshape(-1)  # a view, so writes perturb the input itself
        if flat.base is None and x._data.size and not xp.shares_memory(flat, x._data):
            raise GradcheckError("gradcheck needs contiguous inputs")
        per_out = [xp.zeros((x._data.size, o._data.size), xp.float64) for o in outputs]
        for k in range(flat.size):
            orig = flat[k].copy()
            flat[k] = orig - eps
            minus = _eval(func, inputs)
            flat[k] = orig + eps
            plus = _eval(func, inputs)
            flat[k] = orig
            for j in range(len(outputs)):
                per_out[j][k] = (plus[j].astype(xp.float64).reshape(-1)
                                 - minus[j].astype(xp.float64).reshape(-1)) / (2 * eps)
        jac.append(per_out)
    return jac


def _eval(func, inputs):
    # with grad mode as it is: gradgradcheck's function computes grads itself
    out = _as_tuple(func(*inputs))
    return [o._data.copy() for o in out if isinstance(o, Tensor)]


def _analytical_jacobian(inputs, outputs, nondet_tol):
    """J[i][j] from one autograd.grad call per output element (twice, to check reentrancy)."""
    diff_in = [x for x in inputs if isinstance(x, Tensor) and x._requires_grad]
    jac = [[xp.zeros((x._data.size, o._data.size), xp.float64) for o in outputs]
           for x in diff_in]
    reentrant = True
    for j, o in enumerate(outputs):
        for m in range(o._data.size):
            onehot = xp.zeros(o._data.size, o._data.dtype)
            onehot[m] = 1
            go = _make(onehot.reshape(o._data.shape), False, None, 0)
            g1 = _grad(o, diff_in, go, retain_graph=True, allow_unused=True)
            g2 = _grad(o, diff_in, go, retain_graph=True, allow_unused=True)
            for i, (a, b) in enumerate(zip(g1, g2)):
                if a is None:
                    continue
                col = a._data.astype(xp.float64).reshape(-1)
                jac[i][j][:, m] = col
                if xp.max(xp.abs(col - b._data.astype(xp.float64).reshape(-1)), initial=0) \
                        > nondet_tol:
                    reentrant = False
    return jac, reentrant


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0,
              check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
              check_batched_grad: bool = False, check_batched_forward_grad: bool = False,
              check_forward_ad: bool = False, check_backward_ad: bool = True,
              fast_mode: bool = False, masked=None) -> bool:
    """Check the gradients of ``func`` at ``inputs`` against finite differences.

    Returns True, or raises GradcheckError (returns False with ``raise_exception=False``).
    """
    inputs = _as_tuple(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x._requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of the them have requires_grad=True.")
    for i in diff_idx:
        if inputs[i]._data.dtype != xp.float64:
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point or "
                "complex. This check will likely fail if all the inputs are not of double "
                "precision floating point or complex. ", UserWarning, stacklevel=2)

    def fail(msg):
        if raise_exception:
            raise GradcheckError(msg)
        return False

    outputs = _as_tuple(func(*inputs))
    all_outputs = [o for o in outputs if isinstance(o, Tensor)]
    diff_out = _differentiable_outputs(all_outputs)
    numerical = _numerical_jacobian(func, inputs, all_outputs, eps)
    # outputs that do not require grad must have a zero Jacobian
    for j, o in enumerate(all_outputs):
        if o._requires_grad:
            continue
        for i in diff_idx:
            if not xp.allclose(numerical[i][j], 0, atol=atol, rtol=rtol):
                return fail("Jacobian computed with forward mode mismatch for output "
                            f"{j} with respect to input {i}: the output does not require grad "
                            "but its numerical Jacobian is not zero")
    if not check_backward_ad or not diff_out:
        return True
    out_pos = [j for j, o in enumerate(all_outputs) if o._requires_grad]
    analytical, reentrant = _analytical_jacobian(inputs, diff_out, nondet_tol)
    for k, i in enumerate(diff_idx):
        for jj, j in enumerate(out_pos):
            a = analytical[k][jj]
            n = numerical[i][j]
            if not xp.all(xp.abs(a - n) <= atol + rtol * xp.abs(n)):
                return fail(f"Jacobian mismatch for output {jj} with respect to input {k},\n"
                            f"numerical:{_fmt(n)}\nanalytical:{_fmt(a)}\n")
    if not reentrant:
        return fail("Backward is not reentrant, i.e., running backward with same input and "
                    "grad_output multiple times gives different values, although analytical "
                    "gradient matches numerical gradient.The tolerance for nondeterminism was "
                    f"{nondet_tol}.")
    if check_grad_dtypes:
        gs = _grad(diff_out, [inputs[i] for i in diff_idx],
                   [_make(xp.ones(o._data.shape, o._data.dtype), False, None, 0)
                    for o in diff_out], allow_unused=True)
        for i, g in zip(diff_idx, gs):
            if g is not None and g._data.dtype != inputs[i]._data.dtype:
                return fail("Gradient has dtype mismatch")
    return True


def _fmt(a):
    return repr(_make(xp.asarray(a), False, None, 0))


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, gen_non_contig_grad_outputs: bool = False,
                  raise_exception: bool = True, nondet_tol: float = 0.0,
                  check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
                  check_batched_grad: bool = False, check_fwd_over_rev: bool = False,
                  check_rev_over_rev: bool = True, fast_mode: bool = False, masked=None) -> bool:
    """Check second derivatives: gradcheck of the (create_graph) backward of ``func``."""
    inputs = _as_tuple(inputs)
    outputs = _differentiable_outputs(_as_tuple(func(*inputs)))
    if grad_outputs is None:
        rng = xp.random.default_rng(0)
        grad_outputs = tuple(
            _make(rng.standard_normal(o._data.shape).astype(o._data.dtype), True, None, 0)
            for o in outputs)
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)

    def new_func(*args):
        ins, gos = args[:n_in], args[n_in:]
        outs = _differentiable_outputs(_as_tuple(func(*ins)))
        d_in = [x for x in ins if isinstance(x, Tensor) and x._requires_grad]
        grads = _grad(outs, d_in, gos, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(new_func, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol,
                     check_grad_dtypes=check_grad_dtypes)
