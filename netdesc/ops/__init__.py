"""The ops of docs/NETDESC.md, one class per op, and the registry that finds a layer's op.

This module is the only place that maps an op's name to what the op is; everything else asks
``op_of(layer)`` (see :class:`netdesc.ops.base.Op` for what an op object answers).
"""

from .add import Add
from .base import Op
from .conv2d import Conv2d
from .dense import Dense
from .global_avg_pool import GlobalAvgPool
from .maxpool2d import MaxPool2d

# In the order the spec lists them (and the validator's "known: ..." message names them).
OPS = {op.name: op for op in (Conv2d(), Add(), MaxPool2d(), GlobalAvgPool(), Dense())}


def op_of(layer):
    """The op object of ``layer`` (a validated :class:`netdesc.Layer`)."""
    return OPS[layer.op]


__all__ = ["OPS", "Op", "op_of"]
