"""The in-memory netdesc: an input, layers in topological order, and the output's name.

Objects here are built only by :mod:`netdesc.validate` and the op classes it calls, so a
:class:`Netdesc` is always valid: every layer knows its output shape and type, tensors are int64
numpy arrays of the declared shapes and ranges.
"""

from dataclasses import dataclass, field

import numpy as np

from .arith import TensorType


@dataclass
class InputSpec:
    name: str
    shape: tuple  # (C, H, W)
    type: TensorType


@dataclass
class Layer:
    """One layer. Fields an op does not use stay ``None``.

    ``inputs`` always lists the names read, in order (one for every op but ``add``).
    ``shape`` and ``type`` describe the layer's output tensor.
    """

    name: str
    op: str
    inputs: tuple
    shape: tuple
    type: TensorType
    relu: bool = False
    shift: int = 0
    # conv2d and dense
    weights: np.ndarray = None
    weight_bits: int = None
    bias: np.ndarray = None
    # conv2d and maxpool2d
    kernel: int = None
    stride: int = None
    padding: int = None
    # add
    shifts_in: tuple = None
    # global_avg_pool
    multiplier: int = None
    extra: dict = field(default_factory=dict)  # the layer's `x-` keys, kept as given

    @property
    def out_channels(self):
        return self.shape[0]

    @property
    def has_weights(self):
        # Imported here: the op classes build Layers, so netdesc.ops imports this module.
        from .ops import op_of

        return op_of(self).has_weights


@dataclass
class Netdesc:
    name: str
    input: InputSpec
    layers: list
    output: str
    extra: dict = field(default_factory=dict)  # top-level `x-` keys
    source: str = "<netdesc>"  # where it was read from, for messages

    def __post_init__(self):
        self._by_name = {layer.name: layer for layer in self.layers}

    def layer(self, name):
        return self._by_name[name]

    def shape_of(self, name):
        return self.input.shape if name == self.input.name else self._by_name[name].shape

    def type_of(self, name):
        return self.input.type if name == self.input.name else self._by_name[name].type

    @property
    def output_layer(self):
        return self._by_name[self.output]
