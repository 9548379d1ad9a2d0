"""maxpool2d: the maximum over each kernel window, padding reading as −∞
(docs/NETDESC.md#maxpool2d)."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..checker import MAX_DIM, extension_keys
from ..model import Layer
from .base import SingleInput


class MaxPool2d(SingleInput):
    name = "maxpool2d"
    keys = frozenset({"input", "kernel", "stride", "padding", "bits", "signed"})
    optional = frozenset({"padding"})  # netdescs written before it existed have none
    requantizes = False  # a maximum needs no shift: the output type is the input's

    def parse(self, c, lobj):
        src = self.source(c, lobj)
        in_shape = c.feature_map(src)
        _, h, w = in_shape
        k = c.int_in(lobj, "kernel", 1, MAX_DIM)
        stride = c.int_in(lobj, "stride", 1, 2)  # the line buffer's strides, as for conv2d
        # PyTorch's limit: every window then holds an in-range element, so padding with the
        # type's minimum (as the reference and the RTL do) equals padding with −∞.
        pad = c.int_in(lobj, "padding", 0, k // 2, default=0)
        if k > h + 2 * pad or k > w + 2 * pad:
            c.fail(f"kernel {k} is larger than the padded input {h + 2 * pad}x{w + 2 * pad}")
        ttype = c.ttype(lobj)
        if ttype != c.known[src][1]:
            c.fail(f"bits/signed ({ttype}) must equal those of input '{src}' ({c.known[src][1]})")
        shape = self.output_shape((in_shape,), kernel=k, stride=stride, padding=pad)
        return Layer(lobj["name"], self.name, (src,), shape, type=ttype, kernel=k, stride=stride,
                     padding=pad, extra=extension_keys(lobj))

    def output_shape(self, in_shapes, *, kernel, stride, padding):
        ch, h, w = in_shapes[0]
        return (ch, (h + 2 * padding - kernel) // stride + 1,
                (w + 2 * padding - kernel) // stride + 1)

    def json_keys(self, layer, tensor):
        return {**self.json_input(layer), "kernel": layer.kernel, "stride": layer.stride,
                "padding": layer.padding}

    def accumulator_range(self, net, layer):
        """No accumulator: the input's range (padding is its minimum, see :meth:`reference`)."""
        xtype = net.type_of(layer.inputs[0])
        return xtype.min, xtype.max

    def reference(self, layer, ins, dtype):
        """The sliding-window maximum over the input padded with its type's minimum."""
        k, s, p = layer.kernel, layer.stride, layer.padding
        xp = np.pad(ins[0], ((0, 0), (0, 0), (p, p), (p, p)), constant_values=layer.type.min)
        return sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))
