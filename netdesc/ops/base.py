"""The base class of the op classes, and the helpers several ops share.

An op class holds everything tailor knows about one op of ``docs/NETDESC.md#ops``: its JSON
keys and their rules, its output shape, its reference arithmetic, its accumulator bound and its
sizes. Generic code (validation, I/O, graph queries, the reference executor) asks the op object
of a layer (:func:`netdesc.ops.op_of`) instead of testing the op's name.
"""

import numpy as np

from ..arith import MAX_SHIFT
from ..checker import extension_keys


class Op:
    """One op. Op objects hold no state: the layer's values live in its :class:`Layer`."""

    name = None  # the value of the layer's "op" key
    keys = frozenset()  # the op's JSON keys besides "name" and "op"
    optional = frozenset()  # those of ``keys`` a layer may leave out
    ports = ("i",)  # the RTL engine's input stream ports, in the order of ``layer.inputs``
    has_weights = False  # holds a weight tensor and a bias (what hardware stores in ROMs)
    requantizes = True  # ends in round_shift + saturate to the layer's type
    counts_in_span = False  # counted in a skip's span (docs/NETDESC.md#skip-connections)
    joins = False  # merges two branches: every layer of the op is a skip connection's join

    def parse(self, c, lobj):
        """The :class:`Layer` for the JSON object ``lobj``, whose keys the caller has checked
        against :attr:`keys`; ``c`` is the :class:`netdesc.checker.Checker`."""
        raise NotImplementedError

    def output_shape(self, in_shapes, **params):
        """The output shape for inputs of ``in_shapes`` and the op's parameters (JSON keys)."""
        raise NotImplementedError

    def json_keys(self, layer, tensor):
        """The op's keys of ``layer``'s JSON object, in the order they are written;
        ``tensor(array, key)`` gives the JSON value of a weight or bias tensor."""
        raise NotImplementedError

    def accumulator_range(self, net, layer):
        """``(lo, hi)``: the extreme values of the layer's accumulator (what the output stage
        shifts and saturates), as Python ints."""
        raise NotImplementedError

    def reference(self, layer, ins, dtype):
        """The reference arithmetic on the batches ``ins`` (one per ``layer.inputs``): the
        accumulator, computed in ``dtype`` (float64, int64 or object, chosen by
        :mod:`netdesc.reference` from :meth:`accumulator_range`); for an op that does not
        requantize, the output itself."""
        raise NotImplementedError

    def macs(self, layer):
        """Multiply-accumulates of one inference."""
        return 0

    def parameters(self, layer):
        """Weights plus biases stored."""
        return 0

    def work_elements(self, layer):
        """Elements per input of the largest intermediate array :meth:`reference` builds beyond
        the input and output tensors (the reference runs batches in chunks bounded by it)."""
        return 0


class SingleInput(Op):
    """An op reading one tensor, named by the ``input`` key."""

    def source(self, c, lobj):
        return c.source_of(lobj, "input")

    def json_input(self, layer):
        return {"input": layer.inputs[0]}


def output_stage(c, lobj):
    """The Layer fields of the ops that requantize: shift, relu (default false), type, extras."""
    return dict(shift=c.int_in(lobj, "shift", 0, MAX_SHIFT),
                relu=c.boolean(lobj, "relu", False), type=c.ttype(lobj), extra=extension_keys(lobj))


def integer_dtype(dtype):
    """``dtype`` for an op without products: float64 only pays off in BLAS, so int64 instead."""
    return np.int64 if dtype is np.float64 else dtype


class Weighted(SingleInput):
    """conv2d and dense: a dot product of weights with the input, plus an optional bias."""

    has_weights = True

    def weights(self, c, lobj, shape, out_n):
        """``(weights, weight_bits, bias)`` of ``lobj``: weights of ``shape``, bias ``[out_n]``."""
        wbits = c.int_in(lobj, "weight_bits", 2, 16)
        w = c.tensor(lobj, "weights", shape)
        lo, hi = -(1 << (wbits - 1)), (1 << (wbits - 1)) - 1
        if w.size and (w.min() < lo or w.max() > hi):
            c.fail(f"weights must be signed {wbits}-bit integers in [{lo}, {hi}] "
                   f"(found {w.min() if w.min() < lo else w.max()})")
        bias = lobj.get("bias")
        bias = None if bias is None else c.tensor(lobj, "bias", (out_n,))
        return w, wbits, bias

    def json_weights(self, layer, tensor):
        return {"weights": tensor(layer.weights, f"{layer.name}.w"),
                "weight_bits": layer.weight_bits,
                "bias": None if layer.bias is None else tensor(layer.bias, f"{layer.name}.b")}

    def accumulator_range(self, net, layer):
        """The extremes over the output channels of ``b + Σ w·x`` for x in the input's type:
        from the actual weights, each weight meeting the input's extreme of its sign."""
        xtype = net.type_of(layer.inputs[0])
        w = layer.weights.reshape(layer.weights.shape[0], -1)
        b = np.zeros(len(w), dtype=np.int64) if layer.bias is None else layer.bias
        bound = (int(np.abs(w).max(initial=0)) * max(-xtype.min, xtype.max) * w.shape[1]
                 + max(-int(b.min(initial=0)), int(b.max(initial=0))))  # np.abs wraps at -2^63
        if bound < 1 << 62:  # int64 holds every partial sum, so numpy's sums are exact
            w, b = w.astype(np.int64), b.astype(np.int64)
            lo = b + np.where(w > 0, w * xtype.min, w * xtype.max).sum(1)
            hi = b + np.where(w > 0, w * xtype.max, w * xtype.min).sum(1)
            return int(lo.min()), int(hi.max())
        w = [[int(v) for v in row] for row in w.tolist()]
        b = [int(v) for v in b.tolist()]
        lo = min(bo + sum(v * (xtype.min if v > 0 else xtype.max) for v in row)
                 for row, bo in zip(w, b))
        hi = max(bo + sum(v * (xtype.max if v > 0 else xtype.min) for v in row)
                 for row, bo in zip(w, b))
        return lo, hi

    def parameters(self, layer):
        return int(layer.weights.size) + (0 if layer.bias is None else int(layer.bias.size))

    def dot(self, layer, cols, dtype):
        """``cols @ weightsᵀ + bias`` in ``dtype`` for the rows of ``cols``, returned as int64
        (object where values exceed int64): float64 holds every value exactly below 2^53."""
        w = layer.weights.reshape(layer.shape[0], -1).astype(dtype)
        acc = cols.astype(dtype, copy=False) @ w.T
        if layer.bias is not None:
            acc = acc + layer.bias.astype(dtype)
        return acc.astype(np.int64) if acc.dtype == np.float64 else acc
