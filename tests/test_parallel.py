"""ember's intra-op threads (ember/_ops/_parallel.py): kernels split their batch over
get_num_threads() threads; results must not depend on the thread count beyond the rounding
of a final sum of per-thread parts."""
import os
import threading

import numpy as np
import pytest

import ember
from ember._ops import _parallel
from ember._ops._gelu import gelu_f32


@pytest.fixture
def threads():
    old = ember.get_num_threads()

    def use(n):
        ember.set_num_threads(n)

    yield use
    ember.set_num_threads(old)


def test_parallel_for_covers_the_range_in_order(threads):
    threads(3)
    seen = []
    parts = _parallel.parallel_for(lambda lo, hi: (seen.append((lo, hi)), (lo, hi))[1], 10)
    assert parts == [(0, 3), (3, 6), (6, 10)]
    assert sorted(seen) == parts
    # ranges of at least `grain` items: 10 items in ranges of >= 4 make two ranges
    assert _parallel.parallel_for(lambda lo, hi: (lo, hi), 10, grain=4) == [(0, 5), (5, 10)]
    threads(1)
    assert _parallel.parallel_for(lambda lo, hi: (lo, hi), 10) == [(0, 10)]


def test_parallel_for_runs_ranges_on_other_threads(threads):
    threads(2)
    names = _parallel.parallel_for(lambda lo, hi: threading.current_thread().name, 2)
    assert names[0] == threading.current_thread().name
    assert names[1].startswith("ember-intra-op")


def test_nested_parallel_for_runs_serially(threads):
    threads(2)

    def outer(lo, hi):
        return _parallel.parallel_for(lambda a, b: (a, b), 8)

    assert _parallel.parallel_for(outer, 2) == [[(0, 8)], [(0, 8)]]


def _blas_threads():
    from threadpoolctl import threadpool_info

    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_errors_in_a_range_reach_the_caller_and_blas_gets_its_threads_back(threads):
    threads(2)
    before = _blas_threads()

    def fail(lo, hi):
        if lo:
            raise ValueError("range 1 failed")
        return lo

    with pytest.raises(ValueError, match="range 1 failed"):
        _parallel.parallel_for(fail, 2)
    assert _blas_threads() == before
    assert _parallel.parallel_for(lambda lo, hi: hi - lo, 4) == [2, 2]  # the pool still works


def test_blas_is_pinned_to_one_thread_inside_a_range(threads):
    threads(2)
    if not _blas_threads():
        pytest.skip("threadpoolctl sees no BLAS library")
    assert max(_blas_threads()) == 2
    inside = _parallel.parallel_for(lambda lo, hi: _blas_threads(), 2)
    assert inside == [[1] * len(_blas_threads())] * 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_workers(threads):
    threads(2)
    _parallel.parallel_for(lambda lo, hi: None, 2)  # the parent has a worker now
    pid = os.fork()
    if pid == 0:  # child: the parent's worker thread does not exist here
        try:
            ok = _parallel.parallel_for(lambda lo, hi: hi - lo, 4) == [2, 2]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_gelu_is_the_same_on_any_number_of_threads(threads):
    x = np.random.default_rng(0).standard_normal(300_001).astype(np.float32) * 4
    x[:4] = [0.0, -0.0, np.inf, np.nan]
    threads(1)
    out1, d1 = gelu_f32(x)
    threads(3)
    out3, d3 = gelu_f32(x)
    np.testing.assert_array_equal(out1, out3)
    np.testing.assert_array_equal(d1, d3)
    assert np.signbit(out3[1])


@pytest.mark.parametrize("kind", ["same", "col2im", "wide"])
def test_conv_is_the_same_on_any_number_of_threads(threads, kind):
    # 'same' padding (input grad as a convolution), no padding with few channels (col2im and
    # the flat-cols weight grad), 16 channels (a wider weight grad); odd batch sizes
    C, pad = {"same": (3, 1), "col2im": (3, 0), "wide": (16, 0)}[kind]
    g = ember.Generator().manual_seed(0)
    x = ember.randn(7, C, 9, 11, generator=g, requires_grad=True)
    conv = ember.nn.Conv2d(C, 5, 3, padding=pad)
    results = []
    for n in (1, 2, 3):
        threads(n)
        x.grad = None
        conv.zero_grad()
        y = conv(x)
        (y * y).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy(), conv.weight.grad.numpy(),
                        conv.bias.grad.numpy()))
    for other in results[1:]:
        np.testing.assert_array_equal(results[0][0], other[0])  # forward: no sum across ranges
        np.testing.assert_array_equal(results[0][1], other[1])  # input grad: per sample
        for a, b in zip(results[0][2:], other[2:]):  # weight and bias: a sum of parts
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _step_results(model, x, n):
    ember.set_num_threads(n)
    model.zero_grad()
    x.grad = None
    y = model(x)
    (y * y).mean().backward()
    return [y.detach().numpy().copy(), x.grad.numpy().copy()] + [
        p.grad.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_batchnorm_relu_maxpool_are_the_same_on_any_number_of_threads(threads, dtype):
    # large enough (2^18+ elements per thread) for the kernels to split their work
    g = ember.Generator().manual_seed(1)
    x = ember.randn(8, 16, 64, 64, generator=g, dtype=dtype, requires_grad=True)
    model = ember.nn.Sequential(ember.nn.BatchNorm2d(16), ember.nn.ReLU(),
                                ember.nn.MaxPool2d(2)).to(dtype)
    one = _step_results(model, x, 1)
    running = [model[0].running_mean.numpy().copy(), model[0].running_var.numpy().copy()]
    for n in (2, 3):
        other = _step_results(model, x, n)
        for a, b in zip(one, other):
            np.testing.assert_array_equal(a, b)  # per channel / per sample: no cross-range sums
    assert not np.array_equal(running[0], 0)
    model.eval()
    ev = [_step_results(model, x, n) for n in (1, 2)]
    for a, b in zip(*ev):
        np.testing.assert_array_equal(a, b)


def test_attention_kernels_agree_on_any_number_of_threads(threads):
    # sizes past the kernels' thresholds: softmax/masked_fill rows, LayerNorm rows, the
    # batched matmul's first axis
    g = ember.Generator().manual_seed(2)
    x = ember.randn(16, 4, 64, 128, generator=g, requires_grad=True)
    ln = ember.nn.LayerNorm(128)
    mask = ember.tril(ember.ones(64, 64)) == 0

    def run(n):
        threads(n)
        x.grad = None
        ln.zero_grad()
        h = ln(x)
        att = (h @ h.transpose(-2, -1)).masked_fill(mask, float("-inf")).softmax(-1)
        y = att @ h
        (y * y).sum().backward()
        return [y.detach().numpy().copy(), x.grad.numpy().copy(), ln.weight.grad.numpy().copy(),
                ln.bias.grad.numpy().copy()]

    one, two, three = run(1), run(2), run(3)
    for other in (two, three):
        for a, b in zip(one, other):
            # the row work is the same per row; LayerNorm's weight and bias grads add parts
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)


def test_kernels_called_from_two_python_threads_at_once(threads):
    # one parallel region at a time: the other caller runs its kernel serially, same results
    threads(2)
    x = np.random.default_rng(3).standard_normal(1 << 20).astype(np.float32)
    want = gelu_f32(x)[0]
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(np.array_equal(gelu_f32(x)[0], want))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors and results == [True] * 15


@pytest.mark.skipif(not hasattr(__import__("signal"), "setitimer"), reason="needs setitimer")
def test_an_interrupt_while_waiting_leaves_the_pool_usable(threads):
    # Ctrl-C in a notebook lands while the caller waits for a worker still in its range:
    # the next kernel must not pick up that range's late result
    import signal
    import time

    threads(2)

    def slow_second_range(lo, hi):
        if lo:
            time.sleep(0.3)
            return "late"
        return "first"

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyboardInterrupt):
            _parallel.parallel_for(slow_second_range, 2)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert _parallel.parallel_for(lambda lo, hi: (lo, hi), 2) == [(0, 1), (1, 2)]
    time.sleep(0.35)  # the old worker finishes its range; nothing of it reaches new calls
    assert _parallel.parallel_for(lambda lo, hi: (lo, hi), 2) == [(0, 1), (1, 2)]
