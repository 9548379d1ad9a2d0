"""A multiplier with registered operands and a registered product, in a DSP block's own registers
where the platform has such a block.

Yosys 0.70 maps a multiplication to a bare ECP5 ``MULT18X18D`` and leaves every register around
it in the fabric, so a registered MAC array still paid the DSP's 3.9 ns of logic plus the routing
to and from the DSP column inside one clock period (DECISIONS, 2026-12-07). Instantiated with
``REG_INPUTA/B`` and ``REG_OUTPUT`` clocked, the block holds both registers itself and its logic
sits between them. Elsewhere (other platforms, simulation, the resource reports, which convert
the design without a platform) the same two stages are built from fabric registers; Yosys
checks the two forms against each other (``sim_tests/test_dsp.py``: a proof for narrow
operands, random and extreme values for wide ones).
"""

from amaranth.hdl import ClockSignal, Instance, Module, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PipelinedMultiplier", "MULT18X18D_PARAMETERS"]

# The MULT18X18D configuration: operand and product registers on CLK0, CE0 (tied high) and RST0
# (tied low: the registers hold data, whose validity the MAC array tracks apart).
MULT18X18D_PARAMETERS = {
    **{f"REG_{reg}_{ctl}": val for reg in ("INPUTA", "INPUTB", "OUTPUT")
       for ctl, val in (("CLK", "CLK0"), ("CE", "CE0"), ("RST", "RST0"))},
    "GSR": "DISABLED",
    "RESETMODE": "SYNC",
}
MULT18X18D_WIDTH = 18


def _fits_mult18x18d(shape):
    """Whether an operand of ``shape`` is exact as an 18-bit signed MULT18X18D input."""
    return shape.width + (not shape.signed) <= MULT18X18D_WIDTH


class PipelinedMultiplier(wiring.Component):
    """``p`` is the product of ``a`` and ``b`` as they were two clock edges before: at every
    edge the operands are registered, and the product of the registered operands is
    registered. ``p`` has the shape of Amaranth's ``a * b``.

    On an ECP5 (``platform.family == "ecp5"``) with operands of at most 18 signed or 17
    unsigned bits it is one ``MULT18X18D`` (:data:`MULT18X18D_PARAMETERS`); anywhere else,
    fabric registers and a multiplication.
    """

    def __init__(self, a_shape, b_shape):
        self.a_shape, self.b_shape = Shape.cast(a_shape), Shape.cast(b_shape)
        product = (Signal(self.a_shape) * Signal(self.b_shape)).shape()
        super().__init__({"a": In(self.a_shape), "b": In(self.b_shape), "p": Out(product)})

    def elaborate(self, platform):
        m = Module()
        if getattr(platform, "family", None) == "ecp5" and \
                _fits_mult18x18d(self.a_shape) and _fits_mult18x18d(self.b_shape):
            self._mult18x18d(m)
        else:
            self._fabric(m)
        return m

    def _fabric(self, m):
        # Not reset, like the DSP block's registers: the data's validity is tracked apart.
        a, b = Signal(self.a_shape, reset_less=True), Signal(self.b_shape, reset_less=True)
        product = Signal(self.p.shape(), reset_less=True)
        m.d.comb += self.p.eq(product)
        m.d.sync += [a.eq(self.a), b.eq(self.b), product.eq(a * b)]

    def _mult18x18d(self, m):
        a, b = Signal(signed(MULT18X18D_WIDTH)), Signal(signed(MULT18X18D_WIDTH))
        product = Signal(signed(2 * MULT18X18D_WIDTH))
        # Both operands sign- or zero-extended to 18 bits by their own shapes, multiplied as
        # signed: exact, and the product of the operands' widths fits the 36 bits.
        m.d.comb += [a.eq(self.a), b.eq(self.b), self.p.eq(product)]
        ports = {f"i_{name}{k}": bits[k] for name, bits in (("A", a), ("B", b))
                 for k in range(MULT18X18D_WIDTH)}
        ports |= {f"i_C{k}": 0 for k in range(MULT18X18D_WIDTH)}
        ports |= {f"o_P{k}": product[k] for k in range(2 * MULT18X18D_WIDTH)}
        m.submodules.mult18x18d = Instance(
            "MULT18X18D", **{f"p_{k}": v for k, v in MULT18X18D_PARAMETERS.items()},
            i_CLK0=ClockSignal(), i_CE0=1, i_RST0=0, i_SIGNEDA=1, i_SIGNEDB=1,
            i_SOURCEA=0, i_SOURCEB=0, **ports)
