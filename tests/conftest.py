import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

# pytest -n 2 runs two workers on CI's two cores: one BLAS thread each, or OpenBLAS's spinning
# threads oversubscribe the machine and everything slows down several times. Subprocesses that
# tests start (the seed examples) inherit the variables.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
try:
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]))
except ImportError:  # pragma: no cover - threadpoolctl is a dependency of ember
    pass

# CI gives EMBER_DATA as a path relative to the checkout (../shared/data); tests that chdir into
# a temporary folder must still find the data, so make it absolute once, before any test runs.
if os.environ.get("EMBER_DATA"):
    os.environ["EMBER_DATA"] = os.path.abspath(os.environ["EMBER_DATA"])
