"""Off-chip traffic of the PE array, per step and operand, from its layer program: the words
its memory port moves (:class:`rtl.offchip.OffChipMemory` counts the same, and the simulation
tests hold the two equal) and the input and output streams' bytes beside them.

A word is one channel group (:attr:`rtl.array_program.Program.word_bytes` bytes), so a tensor
whose channels do not fill its last group moves that group's empty lanes too. Weights and
biases stay in on-chip memory and move nothing.
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class StepTraffic:
    """Bytes one step moves: ``reads`` per fetched tensor, ``written`` by its spill."""

    layer: str
    op: str
    reads: dict = field(default_factory=dict)
    written: int = 0

    @property
    def read(self):
        return sum(self.reads.values())


@dataclass
class ArrayTraffic:
    """An inference's off-chip traffic: ``steps`` (:class:`StepTraffic`), and the bytes of the
    input and output streams (``input_bytes``, ``output_bytes``: what reaches and leaves the
    array through its ports ``i`` and ``o``, the same for every skip mode)."""

    steps: list
    word_bytes: int
    input_bytes: int
    output_bytes: int

    @property
    def read(self):
        return sum(s.read for s in self.steps)

    @property
    def written(self):
        return sum(s.written for s in self.steps)

    @property
    def total(self):
        """Bytes through the memory port, read and written."""
        return self.read + self.written


def array_traffic(program):
    """The :class:`ArrayTraffic` of ``program`` (all zero with on-chip memory)."""
    wb = program.word_bytes
    steps = []
    for step in program.steps:
        s = StepTraffic(step.layer, step.op)
        for fetch in step.fetches:
            s.reads[fetch.tensor] = fetch.words * wb
        if step.spill is not None:
            s.written = step.spill.words * wb
        steps.append(s)
    net = program.net
    return ArrayTraffic(steps, wb, _stream_bytes(net.input.type, net.input.shape),
                        _stream_bytes(net.output_layer.type, net.output_layer.shape))


def _stream_bytes(ttype, shape):
    return -(-int(np.prod(shape)) * ttype.bits // 8)
