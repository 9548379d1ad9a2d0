"""global_avg_pool: each channel's sum over the map, scaled by a multiplier and a shift
(docs/NETDESC.md#global_avg_pool)."""

import numpy as np

from ..model import Layer
from .base import SingleInput, integer_dtype, output_stage

MAX_MULTIPLIER = 1 << 32


class GlobalAvgPool(SingleInput):
    name = "global_avg_pool"
    keys = frozenset({"input", "multiplier", "shift", "bits", "signed"})
    optional = frozenset({"multiplier"})

    def parse(self, c, lobj):
        src = self.source(c, lobj)
        in_shape = c.feature_map(src)
        mult = c.int_in(lobj, "multiplier", 1, MAX_MULTIPLIER, default=1)
        # "relu" is not a key of this op: output_stage reads its default, false
        return Layer(lobj["name"], self.name, (src,), self.output_shape((in_shape,)),
                     multiplier=mult, **output_stage(c, lobj))

    def output_shape(self, in_shapes):
        return (in_shapes[0][0],)

    def json_keys(self, layer, tensor):
        return {**self.json_input(layer), "multiplier": layer.multiplier, "shift": layer.shift}

    def accumulator_range(self, net, layer):
        """``multiplier · Σ x`` over the H·W values of a channel."""
        xtype = net.type_of(layer.inputs[0])
        n = layer.multiplier * int(np.prod(net.shape_of(layer.inputs[0])[1:]))
        return n * xtype.min, n * xtype.max

    def reference(self, layer, ins, dtype):
        return layer.multiplier * ins[0].astype(integer_dtype(dtype)).sum(axis=(2, 3))
