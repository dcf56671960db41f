"""Tools built on the autograd core, reachable under PyTorch's names in ``ember.autograd``:
gradcheck, the functional API (jacobian, hessian, vjp...), anomaly detection, the profiler
and Variable. Nothing in the core depends on them."""
