"""The :class:`Checker`: reads one value of a netdesc object and checks its rule in one line.

Shared by :mod:`netdesc.validate` (the file-level rules) and the op classes of
:mod:`netdesc.ops` (each op's keys); every broken rule raises :class:`NetdescError` naming the
file and the layer being read.
"""

import numpy as np

from common.errors import shown

from .arith import TensorType
from .errors import NetdescError

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# Implementation limits: tensors up to 2^24 elements (ResNet-50's largest has 2^19.6) and
# 65,536 along each dimension; beyond them buffers and simulations exhaust memory.
MAX_ELEMENTS = 1 << 24
MAX_DIM = 1 << 16


def is_int(v):
    """A JSON integer (numpy integers included), not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def extension_keys(obj):
    """The ``x-`` keys of a netdesc object (the file, a layer), kept as given."""
    return {k: v for k, v in obj.items() if k.startswith("x-")}


class Checker:
    """Carries the file name, the companion tensors, the current layer and the tensors defined
    so far (``known``: name -> (shape, type)), so each rule is one line."""

    def __init__(self, source, tensors):
        self.source = source
        self.tensors = tensors
        self.layers_obj = ()  # the whole 'layers' list, to tell a later layer from no layer
        self.known = {}
        self.layer = None

    def fail(self, rule):
        raise NetdescError(self.source, rule, self.layer)

    def keys(self, obj, allowed, required, what):
        if not isinstance(obj, dict):
            self.fail(f"{what} must be a JSON object")
        unknown = sorted(k for k in obj if k not in allowed and not k.startswith("x-"))
        if unknown:
            self.fail(f"unknown key '{unknown[0]}' in {what} "
                      f"(allowed: {', '.join(sorted(allowed))})")
        missing = sorted(k for k in required if k not in obj)
        if missing:
            self.fail(f"missing key '{missing[0]}' in {what}")

    def int_in(self, obj, key, lo, hi=None, default=None):
        v = obj.get(key, default)
        if not is_int(v):
            self.fail(f"'{key}' must be an integer (got {shown(v)})")
        if v < lo or (hi is not None and v > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            self.fail(f"'{key}' must be {rng} (got {shown(v)})")
        return int(v)

    def boolean(self, obj, key, default=None):
        v = obj.get(key, default)
        if not isinstance(v, bool):
            self.fail(f"'{key}' must be true or false (got {shown(v)})")
        return v

    def shape(self, shape, what):
        """A tensor shape within the implementation limits."""
        if any(d > MAX_DIM for d in shape) or np.prod(shape, dtype=object) > MAX_ELEMENTS:
            self.fail(f"{what} {list(shape)} is beyond tailor's limits: at most {MAX_DIM:,} "
                      f"along a dimension and {MAX_ELEMENTS:,} elements")
        return shape

    def ttype(self, obj):
        return TensorType(self.int_in(obj, "bits", 1, 32), self.boolean(obj, "signed"))

    def source_of(self, obj, key):
        """The tensor ``obj[key]`` names: the input or an earlier layer."""
        src = obj[key]
        if not isinstance(src, str):
            self.fail(f"'{key}' must be a layer name (got {shown(src)})")
        if src not in self.known:
            later = any(isinstance(l, dict) and l.get("name") == src for l in self.layers_obj)
            if later:
                self.fail(f"reads '{src}', which is defined later (layers must be in "
                          f"topological order)")
            self.fail(f"reads '{src}', which is neither the input nor an earlier layer")
        return src

    def feature_map(self, src):
        """The shape ``[C, H, W]`` of tensor ``src``, which must be a feature map."""
        shape = self.known[src][0]
        if len(shape) != 3:
            self.fail(f"input '{src}' must be a feature map [C, H, W] (it has shape {list(shape)})")
        return shape

    def tensor(self, obj, key, shape):
        """An integer tensor of exactly ``shape``, inline or a key into the companion .npz."""
        v = obj[key]
        if isinstance(v, str):
            if self.tensors is None:
                self.fail(f"'{key}' refers to tensor '{v}' but there is no companion .npz file")
            if v not in self.tensors:
                self.fail(f"'{key}' refers to tensor '{v}', which the companion .npz file lacks")
            arr = np.asarray(self.tensors[v])
            if arr.dtype.kind not in "iu":
                self.fail(f"tensor '{v}' for '{key}' must hold integers (dtype {arr.dtype})")
            if arr.dtype == np.uint64 and arr.size and arr.max() > INT64_MAX:
                self.fail(f"tensor '{v}' for '{key}': values must fit in 64-bit signed "
                          f"integers (found {arr.max()})")
        else:
            arr = self._inline(key, v, len(shape))
        if arr.shape != tuple(shape):
            self.fail(f"'{key}' must have shape {list(shape)} (got {list(arr.shape)})")
        return arr.astype(np.int64)

    def _inline(self, key, v, ndim):
        """A rectangular nested list of ``ndim`` levels of integers, read level by level (a
        list nested deeper than any tensor is refused, not walked)."""
        level, shape = [v], []
        while level and all(isinstance(x, list) for x in level) and len(shape) < ndim:
            lengths = {len(x) for x in level}
            if len(lengths) > 1:
                break
            shape.append(lengths.pop())
            level = [e for x in level for e in x]
        if not isinstance(v, list) or len(shape) != ndim or any(isinstance(x, list) for x in level):
            self.fail(f"'{key}' must be a rectangular nested list of integers ({ndim} levels) "
                      f"or a tensor name")
        bad = [x for x in level if not is_int(x)]
        if bad:
            self.fail(f"'{key}' must hold integers only (found {shown(bad[0])})")
        if any(not INT64_MIN <= x <= INT64_MAX for x in level):
            self.fail(f"'{key}' values must fit in 64-bit signed integers")
        return np.array(level, dtype=np.int64).reshape(shape)
