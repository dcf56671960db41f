"""Variable-length sequences: pad_sequence, pack_padded_sequence, PackedSequence and friends.

Packing and unpacking are gathers with integer indices built in NumPy, so they are
differentiable through ember's indexing (no Function of their own).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from ... import _dtype, cat, stack
from ..._backend import xp
from ..._tensor import Tensor, _make

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


def _long(arr) -> Tensor:
    return _make(xp.ascontiguousarray(arr, dtype=xp.int64), False, None, 0)


class _PackedSequenceBase(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceBase):
    """The time-major rows of a batch of sorted sequences, with the batch size of each step."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        """Converts ``data`` (dtype/device); ``batch_sizes`` stays an int64 CPU tensor."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def cpu(self, *args, **kwargs) -> PackedSequence:
        return self.to("cpu")

    def cuda(self, *args, **kwargs) -> PackedSequence:
        return self.to("cuda", *args, **kwargs)

    def pin_memory(self) -> PackedSequence:
        return self

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def _cast_method(name: str, dtype):
    def cast(self) -> PackedSequence:
        return self.to(dtype=dtype)

    cast.__name__, cast.__qualname__ = name, f"PackedSequence.{name}"
    cast.__doc__ = f"``data`` as {dtype} (Tensor.{name}())."
    return cast


# PackedSequence.double(), .float(), ...: the Tensor casts, applied to ``data``
for _name, _dt in (("double", _dtype.float64), ("float", _dtype.float32),
                   ("half", _dtype.float16), ("long", _dtype.int64), ("int", _dtype.int32),
                   ("short", _dtype.int16), ("char", _dtype.int8), ("byte", _dtype.uint8)):
    setattr(PackedSequence, _name, _cast_method(_name, _dt))
del _name, _dt


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The permutation that undoes ``permutation`` (None stays None)."""
    if permutation is None:
        return None
    p = xp.asarray(permutation._data, xp.int64)
    out = xp.empty_like(p)
    out[p] = xp.arange(p.size)
    return _long(out)


def _lengths_array(lengths) -> xp.ndarray:
    if isinstance(lengths, Tensor):
        return xp.asarray(lengths._data).astype(xp.int64).reshape(-1)
    return xp.asarray(list(lengths), dtype=xp.int64).reshape(-1)


def _packed_rows(batch_sizes: xp.ndarray, batch: int) -> xp.ndarray:
    """For each packed row (time-major), its flat index t * batch + b in a (T, B) layout."""
    if batch_sizes.size == 0:
        return xp.zeros(0, xp.int64)
    t = xp.repeat(xp.arange(batch_sizes.size), batch_sizes)
    starts = xp.cumsum(batch_sizes) - batch_sizes
    b = xp.arange(int(batch_sizes.sum())) - xp.repeat(starts, batch_sizes)
    return t * batch + b


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Packs a padded batch (T, B, *) (or (B, T, *)) of sequences of the given lengths."""
    lens = _lengths_array(lengths)
    sorted_indices = None
    if not enforce_sorted:
        order = xp.argsort(-lens, kind="stable")  # ties keep their order, as torch.sort on CPU
        lens = lens[order]
        sorted_indices = _long(order)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    if batch_first:
        input = input.transpose(0, 1)
    T, B = input.shape[0], input.shape[1]
    if lens.size != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{lens.size} (batch_size={B})")
    if B and lens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element "
                           "in 'lengths' that is <= 0")
    if xp.any(lens[:-1] < lens[1:]):
        raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                           "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                           "pack_padded_sequence and/or pack_sequence to sidestep this "
                           "requirement if you do not need ONNX exportability.")
    if B and lens[0] > T:
        raise RuntimeError(f"pack_padded_sequence: a length of {lens[0]} exceeds the "
                           f"{T} time steps of the padded input")
    steps = int(lens[0]) if B else 0
    batch_sizes = (lens[None, :] > xp.arange(steps)[:, None]).sum(1).astype(xp.int64)
    data = _pack_padded(input, batch_sizes)
    return PackedSequence(data, _long(batch_sizes), sorted_indices, None)


def _pad_packed(data: Tensor, bs: xp.ndarray, max_len: int, padding_value=0.0) -> Tensor:
    """The (max_len, B, *) time-major padded form of packed ``data`` (sorted batch order)."""
    B = int(bs[0]) if bs.size else 0
    rows = _packed_rows(bs, B)
    # gather from data plus one padding row, so the result stays a differentiable gather
    src = xp.full(max_len * B, data.shape[0], xp.int64)
    src[rows] = xp.arange(rows.size)
    pad_row = data.new_full((1,) + tuple(data.shape[1:]), padding_value)
    return cat([data, pad_row])[_long(src)].reshape(max_len, B, *data.shape[1:])


def _pack_padded(padded: Tensor, bs: xp.ndarray) -> Tensor:
    """The packed rows of a time-major (T, B, *) tensor whose steps have ``bs`` active rows."""
    T, B = padded.shape[0], padded.shape[1]
    rows = _packed_rows(bs, B)
    return padded.reshape(T * B, *padded.shape[2:])[_long(rows)]


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """Unpacks a PackedSequence into (padded, lengths), in the batch's original order."""
    bs = xp.asarray(sequence.batch_sizes._data, xp.int64)
    max_len = bs.size
    if total_length is not None:
        if total_length < max_len:
            raise ValueError("Expected total_length to be at least the length of the longest "
                             "sequence in input, but got total_length="
                             f"{total_length} and max sequence length being {max_len}")
        max_len = total_length
    B = int(bs[0]) if bs.size else 0
    padded = _pad_packed(sequence.data, bs, max_len, padding_value)
    lengths = (bs[None, :] > xp.arange(B)[:, None]).sum(1).astype(xp.int64)
    if batch_first:
        padded = padded.transpose(0, 1)
    if sequence.unsorted_indices is not None:
        unsorted = sequence.unsorted_indices
        padded = padded.index_select(0 if batch_first else 1, unsorted)
        lengths = lengths[xp.asarray(unsorted._data, xp.int64)]
    return padded, _long(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stacks tensors of shape (L_i, *) into (max L, B, *) (or (B, max L, *)), padding them."""
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    if not isinstance(sequences, Iterable):
        raise RuntimeError("pad_sequence: Expected iterable for input sequences, but got arg of "
                           f"type: {type(sequences)}")
    sequences = tuple(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got "
                           f"{padding_side}.")
    max_len = max(s.shape[0] for s in sequences)
    trailing = tuple(sequences[0].shape[1:])
    dt = sequences[0].dtype
    padded = []
    for s in sequences:
        if tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: every sequence must have the trailing shape "
                               f"{list(trailing)}, got {list(s.shape)}")
        extra = max_len - s.shape[0]
        s = s.to(dt)
        if extra:
            fill = s.new_full((extra,) + trailing, padding_value)
            s = cat([s, fill] if padding_side == "right" else [fill, s])
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor, batch_first: bool = False):
    """The inverse of pad_sequence: a list of the unpadded sequences."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lens = _lengths_array(lengths)
    return [seq[:int(n)] for seq, n in zip(padded_sequences.unbind(0), lens)]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """pad_sequence then pack_padded_sequence."""
    lengths = [v.size(0) for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The inverse of pack_sequence: the list of sequences in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
