"""Distribution: the base class of every probability distribution."""
from __future__ import annotations

import warnings

import ember

from . import constraints
from .utils import broadcast_all, lazy_property

__all__ = ["Distribution"]


def _is_all_true(valid) -> bool:
    return bool(valid.all()) if isinstance(valid, ember.Tensor) else bool(valid)


class Distribution:
    """Abstract base class: batch_shape, event_shape, sampling, scoring, validation."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__
    # The tensor parameters of a class whose state they are, each batch_shape plus its own
    # event dims: _init_batched sets them, and the default expand() broadcasts them (a lazily
    # derived one, such as the probs of a distribution given logits, only once derived).
    _batched: tuple = ()

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for distributions created afterwards."""
        if value not in [True, False]:
            raise ValueError
        Distribution._validate_args = value

    def __init__(self, batch_shape=ember.Size(), event_shape=ember.Size(),
                 validate_args: bool | None = None) -> None:
        self._batch_shape = batch_shape
        self._event_shape = event_shape
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            try:
                arg_constraints = self.arg_constraints
            except NotImplementedError:
                arg_constraints = {}
                warnings.warn(f"{self.__class__} does not define `arg_constraints`. Please set "
                              "`arg_constraints = {}` or initialize the distribution with "
                              "`validate_args=False` to turn off validation.", stacklevel=2)
            for param, constraint in arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue  # cannot be checked
                if param not in self.__dict__ and isinstance(getattr(type(self), param),
                                                             lazy_property):
                    continue  # not constructed yet
                value = getattr(self, param)
                if not _is_all_true(constraint.check(value)):
                    raise ValueError(
                        f"Expected parameter {param} ({type(value).__name__} of shape "
                        f"{tuple(value.shape)}) of distribution {self!r} to satisfy the "
                        f"constraint {constraint!r}, but found invalid values:\n{value}")
        super().__init__()

    def _set_batched(self, *values):
        """Set the first parameters named in _batched to ``values`` broadcast together."""
        values = broadcast_all(*values)
        for name, value in zip(self._batched, values):
            setattr(self, name, value)
        return values

    def _init_batched(self, *values, validate_args=None):
        """__init__ from the values of the parameters in _batched: their shape is the batch
        shape."""
        values = self._set_batched(*values)
        Distribution.__init__(self, values[0].size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        """A new distribution with batch dimensions expanded to ``batch_shape``."""
        owner = next(c for c in type(self).__mro__ if "_batched" in vars(c))
        if owner is Distribution:
            raise NotImplementedError
        # the subclass check names the nearest class still built by the owner's __init__
        cls = next(c for c in type(self).__mro__ if c.__init__ is owner.__init__)
        return self._expanded(cls, batch_shape, _instance, owner._batched)

    @property
    def batch_shape(self):
        """The shape over which parameters are batched."""
        return self._batch_shape

    @property
    def event_shape(self):
        """The shape of a single sample."""
        return self._event_shape

    @property
    def arg_constraints(self) -> dict:
        """Parameter name -> Constraint."""
        raise NotImplementedError

    @property
    def support(self):
        """The Constraint that samples satisfy."""
        raise NotImplementedError

    @property
    def mean(self):
        """The mean of the distribution."""
        raise NotImplementedError

    @property
    def mode(self):
        """The mode of the distribution."""
        raise NotImplementedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self):
        """The variance of the distribution."""
        raise NotImplementedError

    @property
    def stddev(self):
        """The standard deviation of the distribution."""
        return self.variance.sqrt()

    def sample(self, sample_shape=ember.Size()):
        """A sample of shape sample_shape + batch_shape + event_shape, without gradient."""
        with ember.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=ember.Size()):
        """A reparameterised sample (gradients flow to the parameters)."""
        raise NotImplementedError

    def sample_n(self, n: int):
        """n samples (deprecated: use sample((n,)))."""
        warnings.warn("`sample_n(n)` will be deprecated. Use `sample((n,))` instead.",
                      FutureWarning, stacklevel=2)
        return self.sample(ember.Size((n,)))

    def log_prob(self, value):
        """Log of the probability density/mass at ``value``."""
        raise NotImplementedError

    def cdf(self, value):
        """Cumulative distribution function at ``value``."""
        raise NotImplementedError

    def icdf(self, value):
        """Inverse cumulative distribution function at ``value``."""
        raise NotImplementedError

    def enumerate_support(self, expand: bool = True):
        """All values of a discrete distribution's support, along dim 0."""
        raise NotImplementedError

    def entropy(self):
        """Entropy, batched over batch_shape."""
        raise NotImplementedError

    def perplexity(self):
        """exp(entropy)."""
        return ember.exp(self.entropy())

    def _extended_shape(self, sample_shape=ember.Size()):
        if not isinstance(sample_shape, ember.Size):
            sample_shape = ember.Size(sample_shape)
        return ember.Size(tuple(sample_shape) + tuple(self._batch_shape)
                          + tuple(self._event_shape))

    def _validate_sample(self, value) -> None:
        if not isinstance(value, ember.Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dim_start = value.dim() - len(self._event_shape)
        if tuple(value.size()[event_dim_start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: "
                             f"{value.size()} vs {self._event_shape}.")
        actual_shape = value.size()
        expected_shape = ember.Size(tuple(self._batch_shape) + tuple(self._event_shape))
        for i, j in zip(reversed(actual_shape), reversed(expected_shape)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                                 f"{actual_shape} vs {expected_shape}.")
        try:
            support = self.support
        except NotImplementedError:
            warnings.warn(f"{self.__class__} does not define `support` to enable sample "
                          "validation. Please initialize the distribution with "
                          "`validate_args=False` to turn off validation.", stacklevel=2)
            return
        if not _is_all_true(support.check(value)):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) to be within the support ({support!r}) of the "
                f"distribution {self!r}, but found invalid values:\n{value}")

    def _expanded(self, cls, batch_shape, _instance=None, tensors=(), dists=(), shared=()):
        """expand()'s body for ``cls``: a new instance whose ``tensors`` (those this one holds:
        a lazily derived one only once derived) are broadcast to ``batch_shape`` plus their own
        trailing event dims, whose ``dists`` are expanded to ``batch_shape``, and which shares
        the attributes named in ``shared``."""
        new = self._get_checked_instance(cls, _instance)
        batch_shape = ember.Size(batch_shape)
        event_at = len(self._batch_shape)
        for name in tensors:
            if name in self.__dict__:
                t = self.__dict__[name]
                setattr(new, name, t.expand(tuple(batch_shape) + tuple(t.shape[event_at:])))
        for name in dists:
            setattr(new, name, getattr(self, name).expand(batch_shape))
        for name in shared:
            setattr(new, name, getattr(self, name))
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _support_values(self, values, expand: bool):
        """enumerate_support's answer: the ``values`` along dim 0 (each one event), with a
        dim per batch dim after it, broadcast over the batch shape when ``expand``."""
        n, batch, event = values.shape[0], tuple(self._batch_shape), tuple(values.shape[1:])
        values = values.view((n,) + (1,) * len(batch) + event)
        return values.expand((n,) + batch + event) if expand else values

    def _sample_of(self, draw, sample_shape, *params):
        """draw(*params broadcast to the sample's shape), without gradient."""
        shape = self._extended_shape(sample_shape)
        with ember.no_grad():
            return draw(*(p.expand(shape) for p in params))

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(
                f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom "
                "__init__ method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    def __repr__(self) -> str:
        names = [k for k in self.arg_constraints if k in self.__dict__]
        vals = [self.__dict__[p] for p in names]
        args = ", ".join(f"{p}: {v if v.numel() == 1 else v.size()}" for p, v in zip(names, vals))
        return f"{self.__class__.__name__}({args})"
