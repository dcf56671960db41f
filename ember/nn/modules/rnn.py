"""Recurrent layers: RNN, LSTM, GRU (multi-layer, bidirectional) and their single-step cells.

The recurrences run as fused kernels (``ember._ops.nn_ops.rnn_tanh / lstm / gru`` and the
``*_cell`` functions): one Function per call, the time loop and BPTT in NumPy. A PackedSequence
runs padded through the same kernel, which freezes the state of rows past their length.
"""
from __future__ import annotations

import math
import numbers
import warnings

from ... import _creation
from ..._backend import xp
from ..._ops import nn_ops
from ..._tensor import Tensor, _make
from .. import init
from ..parameter import Parameter
from ..utils import rnn as _rnn_utils
from ._utils import _non_defaults
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _zeros(shape, like):
    return _make(xp.zeros(shape, like._data.dtype), False, None, 0)


class RNNBase(Module):
    """Shared parameters and checks of RNN, LSTM and GRU (PyTorch's names and order)."""

    __constants__ = ["mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first",
                     "dropout", "bidirectional", "proj_size"]

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        if (not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1
                or isinstance(dropout, bool)):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: "
                            f"{type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode == "LSTM":
            gate_size = 4 * hidden_size
        elif mode == "GRU":
            gate_size = 3 * hidden_size
        elif mode in ("RNN_TANH", "RNN_RELU"):
            gate_size = hidden_size
        else:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                real_hidden = proj_size if proj_size > 0 else hidden_size
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                params = [_creation.empty(gate_size, layer_input, device=device, dtype=dtype),
                          _creation.empty(gate_size, real_hidden, device=device, dtype=dtype)]
                names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if bias:
                    params += [_creation.empty(gate_size, device=device, dtype=dtype),
                               _creation.empty(gate_size, device=device, dtype=dtype)]
                    names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                if proj_size > 0:
                    params.append(_creation.empty(proj_size, hidden_size, device=device,
                                                  dtype=dtype))
                    names.append("weight_hr_l{}{}")
                suffix = "_reverse" if direction == 1 else ""
                names = [n.format(layer, suffix) for n in names]
                for name, p in zip(names, params):
                    setattr(self, name, Parameter(p))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, w) for w in weights] for weights in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op: ember keeps no fused weight buffer."""

    def reset_parameters(self) -> None:
        """U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every weight and bias."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def check_input(self, input: Tensor, batch_sizes=None) -> None:
        w0 = self._flat_weights[0]
        if input.dtype != w0.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype "
                             f"({w0.dtype}). Convert input: input.to({w0.dtype}), or convert "
                             f"model: model.to({input.dtype})")
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_input_dim:
            raise RuntimeError(f"input must have {expected_input_dim} dimensions, got "
                               f"{input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.size(-1)}")

    def get_expected_hidden_size(self, input: Tensor, batch_sizes=None) -> tuple:
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_directions, mini_batch, hidden)

    @staticmethod
    def check_hidden_size(hx, expected, msg: str = "Expected hidden size {}, got {}") -> None:
        if tuple(hx.size()) != tuple(expected):
            raise RuntimeError(msg.format(expected, list(hx.size())))

    def check_forward_args(self, input, hidden, batch_sizes=None) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        return hx.index_select(1, permutation)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}" + _non_defaults(self, {
            "proj_size": 0, "num_layers": 1, "bias": True, "batch_first": False, "dropout": 0,
            "bidirectional": False})
        return s.format(**self.__dict__)

    @staticmethod
    def _unsq_h(h):
        return _make(h._data[:, None], False, None, 0)

    def _forward_single_state(self, fn, input, hx, name):
        """RNN's and GRU's forward on a tensor: check hx (or make zeros), then run ``fn``."""
        is_batched = self._prepare(input, name)
        if not is_batched and hx is not None and hx.dim() != 2:
            raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got "
                               f"{hx.dim()}-D tensor")
        if is_batched and hx is not None and hx.dim() != 3:
            raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got "
                               f"{hx.dim()}-D tensor")
        view = self._batched_view(input, is_batched)
        expected = self.get_expected_hidden_size(view)
        if hx is None:
            hx = _zeros(expected if is_batched else expected[:1] + expected[2:], input)
        self.check_input(view)
        self.check_hidden_size(hx if is_batched else self._unsq_h(hx), expected)
        return self._run(fn, input, hx)

    def _prepare(self, input, name):
        if input.dim() not in (2, 3):
            what = " tensor" if name == "RNN" else ""
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{what} "
                             "instead")
        return input.dim() == 3

    def _batched_view(self, input, is_batched):
        """The shape checks see the batched input, as in PyTorch (unsqueezed at batch_dim)."""
        if is_batched:
            return input
        shape = list(input.shape)
        shape.insert(0 if self.batch_first else 1, 1)
        return _make(input._data.reshape(shape), False, None, 0)

    def _run(self, fn, input, hx, cx=None):
        return fn(input, hx if cx is None else (hx, cx), self._flat_weights, self.bias,
                  self.num_layers, self.dropout, self.training, self.bidirectional,
                  self.batch_first)

    def _run_packed(self, fn, packed, hx):
        """A PackedSequence through the recurrence: padded time-major in, packed out; hidden
        states follow the packed (sorted) batch order inside and the caller's order outside."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        bs = xp.asarray(batch_sizes._data, xp.int64)
        is_lstm = self.mode == "LSTM"
        self.check_input(data, bs)
        eh = self.get_expected_hidden_size(data, bs)
        if hx is None:
            hx = (_zeros(eh, data), _zeros(eh[:2] + (self.hidden_size,), data)) if is_lstm \
                else _zeros(eh, data)
        elif is_lstm:
            hx = (self.permute_hidden(hx[0], sorted_indices),
                  self.permute_hidden(hx[1], sorted_indices))
            self.check_hidden_size(hx[0], eh, "Expected hidden[0] size {}, got {}")
            self.check_hidden_size(hx[1], eh[:2] + (self.hidden_size,),
                                   "Expected hidden[1] size {}, got {}")
        else:
            hx = self.permute_hidden(hx, sorted_indices)
            self.check_hidden_size(hx, eh)
        padded = _rnn_utils._pad_packed(data, bs, bs.size)
        res = fn(padded, hx, self._flat_weights, self.bias, self.num_layers, self.dropout,
                 self.training, self.bidirectional, False, batch_sizes=bs)
        out = _rnn_utils.PackedSequence(_rnn_utils._pack_padded(res[0], bs), batch_sizes,
                                        sorted_indices, unsorted_indices)
        hidden = [self.permute_hidden(h, unsorted_indices) for h in res[1:]]
        return out, (tuple(hidden) if is_lstm else hidden[0])


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        super().__init__(mode, *args, **kwargs)

    def forward(self, input: Tensor, hx=None):
        fn = nn_ops.rnn_tanh if self.mode == "RNN_TANH" else nn_ops.rnn_relu
        if isinstance(input, _rnn_utils.PackedSequence):
            return self._run_packed(fn, input, hx)
        return self._forward_single_state(fn, input, hx, "RNN")


class LSTM(RNNBase):
    """Long short-term memory; gates in PyTorch's order i, f, g, o."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def get_expected_cell_size(self, input: Tensor, batch_sizes=None) -> tuple:
        mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        return (self.num_layers * num_directions, mini_batch, self.hidden_size)

    def forward(self, input: Tensor, hx=None):
        if isinstance(input, _rnn_utils.PackedSequence):
            return self._run_packed(nn_ops.lstm, input, hx)
        is_batched = self._prepare(input, "LSTM")
        if hx is not None:
            h0, c0 = hx
            if is_batched and (h0.dim() != 3 or c0.dim() != 3):
                raise RuntimeError(f"For batched 3-D input, hx and cx should also be 3-D but got "
                                   f"({h0.dim()}-D, {c0.dim()}-D) tensors")
            if not is_batched and (h0.dim() != 2 or c0.dim() != 2):
                raise RuntimeError(f"For unbatched 2-D input, hx and cx should also be 2-D but "
                                   f"got ({h0.dim()}-D, {c0.dim()}-D) tensors")
        view = self._batched_view(input, is_batched)
        eh = self.get_expected_hidden_size(view)
        ec = self.get_expected_cell_size(view)
        if hx is None:
            h0 = _zeros(eh if is_batched else eh[:1] + eh[2:], input)
            c0 = _zeros(ec if is_batched else ec[:1] + ec[2:], input)
        self.check_input(view)
        unsq = self._unsq_h
        self.check_hidden_size(h0 if is_batched else unsq(h0), eh,
                               "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(c0 if is_batched else unsq(c0), ec,
                               "Expected hidden[1] size {}, got {}")
        out, h_n, c_n = self._run(nn_ops.lstm, input, h0, c0)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit; gates r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input: Tensor, hx=None):
        if isinstance(input, _rnn_utils.PackedSequence):
            return self._run_packed(nn_ops.gru, input, hx)
        return self._forward_single_state(nn_ops.gru, input, hx, "GRU")


# ---- cells -----------------------------------------------------------------------------------
class RNNCellBase(Module):
    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_creation.empty(num_chunks * hidden_size, input_size,
                                                   device=device, dtype=dtype))
        self.weight_hh = Parameter(_creation.empty(num_chunks * hidden_size, hidden_size,
                                                   device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(_creation.empty(num_chunks * hidden_size, device=device,
                                                     dtype=dtype))
            self.bias_hh = Parameter(_creation.empty(num_chunks * hidden_size, device=device,
                                                     dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        """U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every weight and bias."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _check(self, input, hx, label):
        """PyTorch's check_rnn_cell_forward_input / _hidden."""
        if input.size(-1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(-1)} "
                               f"expected {self.input_size}")
        if input.dim() == 2 and hx.dim() == 2 and input.size(0) != hx.size(0):
            raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{label} "
                               f"batch size {hx.size(0)}")
        if hx.size(-1) != self.hidden_size:
            raise RuntimeError(f"hidden{label} has inconsistent hidden_size: got {hx.size(-1)}, "
                               f"expected {self.hidden_size}")

    def _params(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _single_hidden(self, input, hx, name: str):
        """RNNCell's and GRUCell's checks of input and hx; hx, or zeros when it is None."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D "
                             "instead")
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        if hx is None:
            hx = _zeros(input.shape[:-1] + (self.hidden_size,), input)
        self._check(input, hx, "0")
        return hx


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu)."""

    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx=None) -> Tensor:
        hx = self._single_hidden(input, hx, "RNNCell")
        if self.nonlinearity == "tanh":
            return nn_ops.rnn_tanh_cell(input, hx, *self._params())
        if self.nonlinearity == "relu":
            return nn_ops.rnn_relu_cell(input, hx, *self._params())
        raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")


class LSTMCell(RNNCellBase):
    """One LSTM step: (h, c) -> (h', c'), gates i, f, g, o."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx=None):
        if input.dim() not in (1, 2):
            raise ValueError(f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D "
                             "instead")
        if hx is not None:
            for idx, value in enumerate(hx):
                if value.dim() not in (1, 2):
                    raise ValueError(f"LSTMCell: Expected hx[{idx}] to be 1D or 2D, got "
                                     f"{value.dim()}D instead")
        if hx is None:
            zeros = _zeros(input.shape[:-1] + (self.hidden_size,), input)
            hx = (zeros, zeros)
        self._check(input, hx[0], "0")
        self._check(input, hx[1], "1")
        return nn_ops.lstm_cell(input, hx, *self._params())


class GRUCell(RNNCellBase):
    """One GRU step: h' = (1 - z) * n + z * h."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx=None) -> Tensor:
        hx = self._single_hidden(input, hx, "GRUCell")
        return nn_ops.gru_cell(input, hx, *self._params())
