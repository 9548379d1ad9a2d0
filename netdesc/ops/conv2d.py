"""conv2d: a square-kernel 2-D convolution with zero padding (docs/NETDESC.md#conv2d)."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..checker import MAX_DIM
from ..model import Layer
from .base import Weighted, output_stage


class Conv2d(Weighted):
    name = "conv2d"
    keys = frozenset({"input", "out_channels", "kernel", "stride", "padding", "weights",
                      "weight_bits", "bias", "shift", "relu", "bits", "signed"})
    optional = frozenset({"bias", "relu"})
    counts_in_span = True

    def parse(self, c, lobj):
        src = self.source(c, lobj)
        in_shape = c.feature_map(src)
        cin, h, w = in_shape
        cout = c.int_in(lobj, "out_channels", 1, MAX_DIM)
        k = c.int_in(lobj, "kernel", 1, MAX_DIM)
        stride = c.int_in(lobj, "stride", 1, 2)
        pad = c.int_in(lobj, "padding", 0, k - 1)
        if k > h + 2 * pad or k > w + 2 * pad:
            c.fail(f"kernel {k} is larger than the padded input {h + 2 * pad}x{w + 2 * pad}")
        weights, wbits, bias = self.weights(c, lobj, (cout, cin, k, k), cout)
        shape = self.output_shape((in_shape,), out_channels=cout, kernel=k, stride=stride,
                                  padding=pad)
        return Layer(lobj["name"], self.name, (src,), shape, weights=weights, weight_bits=wbits,
                     bias=bias, kernel=k, stride=stride, padding=pad, **output_stage(c, lobj))

    def output_shape(self, in_shapes, *, out_channels, kernel, stride, padding):
        _, h, w = in_shapes[0]
        return (out_channels, (h + 2 * padding - kernel) // stride + 1,
                (w + 2 * padding - kernel) // stride + 1)

    def json_keys(self, layer, tensor):
        return {**self.json_input(layer), "out_channels": layer.shape[0], "kernel": layer.kernel,
                "stride": layer.stride, "padding": layer.padding,
                **self.json_weights(layer, tensor), "shift": layer.shift, "relu": layer.relu}

    def reference(self, layer, ins, dtype):
        """im2col, then one matrix product: every output pixel is a row of kernel windows."""
        x = ins[0]
        n, c, _, _ = x.shape
        k, s, p = layer.kernel, layer.stride, layer.padding
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).astype(dtype)
        win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # N C Ho Wo k k
        _, ho, wo = layer.shape
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
        acc = self.dot(layer, cols, dtype)  # (N·Ho·Wo, O)
        return acc.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)

    def macs(self, layer):
        _, ho, wo = layer.shape
        return int(layer.weights.size) * ho * wo

    def work_elements(self, layer):
        return layer.shape[1] * layer.shape[2] * layer.weights[0].size  # the im2col matrix
