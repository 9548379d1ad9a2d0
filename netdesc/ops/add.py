"""add: the elementwise sum that joins a skip connection (docs/NETDESC.md#add)."""

from common.errors import shown

from ..arith import MAX_SHIFT
from ..checker import is_int
from ..model import Layer
from .base import Op, integer_dtype, output_stage


class Add(Op):
    name = "add"
    keys = frozenset({"inputs", "shifts_in", "shift", "relu", "bits", "signed"})
    optional = frozenset({"relu"})
    ports = ("a", "b")
    joins = True

    def parse(self, c, lobj):
        ins = lobj["inputs"]
        if not (isinstance(ins, list) and len(ins) == 2):
            c.fail(f"'inputs' must list exactly two layers (got {shown(ins)})")
        srcs = tuple(c.source_of({"inputs": s}, "inputs") for s in ins)
        sa, sb = c.known[srcs[0]][0], c.known[srcs[1]][0]
        if sa != sb:
            c.fail(f"inputs '{srcs[0]}' {list(sa)} and '{srcs[1]}' {list(sb)} differ in shape")
        shifts = lobj["shifts_in"]
        if not (isinstance(shifts, list) and len(shifts) == 2
                and all(is_int(s) and 0 <= s <= MAX_SHIFT for s in shifts)):
            c.fail(f"'shifts_in' must be two integers in 0..{MAX_SHIFT} (got {shown(shifts)})")
        return Layer(lobj["name"], self.name, srcs, self.output_shape((sa, sb)),
                     shifts_in=tuple(shifts), **output_stage(c, lobj))

    def output_shape(self, in_shapes):
        return in_shapes[0]

    def json_keys(self, layer, tensor):
        return {"inputs": list(layer.inputs), "shifts_in": list(layer.shifts_in),
                "shift": layer.shift, "relu": layer.relu}

    def accumulator_range(self, net, layer):
        """``(a << la) + (b << lb)`` over the inputs' types."""
        ta, tb = (net.type_of(n) for n in layer.inputs)
        la, lb = layer.shifts_in
        return (ta.min << la) + (tb.min << lb), (ta.max << la) + (tb.max << lb)

    def reference(self, layer, ins, dtype):
        dtype = integer_dtype(dtype)
        la, lb = layer.shifts_in
        return (ins[0].astype(dtype) << la) + (ins[1].astype(dtype) << lb)
