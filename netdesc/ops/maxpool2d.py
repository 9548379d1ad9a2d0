"""maxpool2d: the maximum over each kernel window, no padding (docs/NETDESC.md#maxpool2d)."""

from numpy.lib.stride_tricks import sliding_window_view

from ..checker import MAX_DIM, extension_keys
from ..model import Layer
from .base import SingleInput


class MaxPool2d(SingleInput):
    name = "maxpool2d"
    keys = frozenset({"input", "kernel", "stride", "bits", "signed"})
    requantizes = False  # a maximum needs no shift: the output type is the input's

    def parse(self, c, lobj):
        src = self.source(c, lobj)
        in_shape = c.feature_map(src)
        _, h, w = in_shape
        k = c.int_in(lobj, "kernel", 1, MAX_DIM)
        stride = c.int_in(lobj, "stride", 1, 2)  # the line buffer's strides, as for conv2d
        if k > h or k > w:
            c.fail(f"kernel {k} is larger than the input {h}x{w}")
        ttype = c.ttype(lobj)
        if ttype != c.known[src][1]:
            c.fail(f"bits/signed ({ttype}) must equal those of input '{src}' ({c.known[src][1]})")
        shape = self.output_shape((in_shape,), kernel=k, stride=stride)
        return Layer(lobj["name"], self.name, (src,), shape, type=ttype, kernel=k, stride=stride,
                     extra=extension_keys(lobj))

    def output_shape(self, in_shapes, *, kernel, stride):
        ch, h, w = in_shapes[0]
        return (ch, (h - kernel) // stride + 1, (w - kernel) // stride + 1)

    def json_keys(self, layer, tensor):
        return {**self.json_input(layer), "kernel": layer.kernel, "stride": layer.stride}

    def accumulator_range(self, net, layer):
        """No accumulator: the input's range."""
        xtype = net.type_of(layer.inputs[0])
        return xtype.min, xtype.max

    def reference(self, layer, ins, dtype):
        k, s = layer.kernel, layer.stride
        return sliding_window_view(ins[0], (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))
