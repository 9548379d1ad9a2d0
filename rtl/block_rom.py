"""A ROM read into a register, on the ECP5 the output register of its own block RAMs.

Yosys maps a ROM with a registered read to ECP5 ``DP16KD`` block RAMs without their output
register (``REGMODE NOREG``) and leaves the register behind it in the fabric: the block RAM's
5.8 ns from clock to output and the route to that register then make one path, the folded
ResNet-8's critical path on the ULX3S (98.1 MHz, DECISIONS 2026-12-07). Instantiated with
``REGMODE OUTREG``, the block RAM holds that register itself. Elsewhere (other platforms,
simulation, the resource reports, which convert the design without a platform) the same two
stages are a Memory's read port and a fabric register.

The block RAMs are those Yosys' ``memory_libmap`` would choose for the ROM: the shape of
fewest blocks (:func:`bank_words`) when it is one block deep and one of 2048 x 9, 1024 x 18
and 512 x 36 (the ``PDPW16KD`` configuration, read on port B), side by side, and only where
its costs prefer them to logic: a ROM bit in LUTs costs
1/16, the block RAMs 128 each and 2.5 more (bisected with the pinned Yosys: one block RAM from
2,089 bits up, two from 4,137), ties going to logic. Their contents are laid out as Yosys' ``brams_map_16kd.v``
lays out the ``INIT`` it computes: word ``a`` of a ``w``-bit shape at bits ``a * w`` of
1024 rows of 18 bits, each ``INITVAL`` parameter 16 rows at a 20-bit stride
(``sim_tests/test_block_rom.py`` compares both with Yosys' own mapping of the Memory).
"""

from amaranth.hdl import ClockSignal, Const, Elaboratable, Instance, Module, Signal, unsigned
from amaranth.lib.memory import Memory

__all__ = ["BLOCK_RAM_SHAPES", "RegisteredRom", "bank_words", "initvals"]

# Depth x width of an 18-kbit block RAM (ECP5 DP16KD / PDPW16KD, Xilinx RAMB18), the
# aspect ratios Yosys chooses between.
BLOCK_RAM_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
# The DP16KD configurations instantiated (data bits: depth, their address's lowest pin, the
# narrower pins selecting a part of a wider word or enabling bytes of a write, and their read
# port).
_DP16KD_SHAPES = {9: (2048, 3, "A"), 18: (1024, 4, "A"), 36: (512, 5, "B")}
_DP16KD_ROWS, _DP16KD_ROW_BITS = 1024, 18
_INITVAL_ROWS, _INITVAL_ROW_STRIDE = 16, 20
# memory_libmap's costs on the ECP5 (module docstring): a block RAM's, a mapping's beyond its
# block RAMs', and a ROM bit's in logic.
_BLOCK_COST, _MAPPING_COST, _ROM_BIT_COST = 128, 2.5, 1 / 16


def bank_words(width, depth):
    """The depth of the block RAM shape that holds ``depth`` words of ``width`` bits in the
    fewest block RAMs (the deeper shape on a tie): the split synthesis makes of a ROM."""
    def blocks(shape):
        words, bits = shape
        return -(-width // bits) * -(-depth // words), -words
    return min(BLOCK_RAM_SHAPES, key=blocks)[0]


def _ecp5_shape(width, depth):
    """The DP16KD data width of :func:`bank_words`' shape and the count of those block RAMs side
    by side; None when that shape is not one of :data:`_DP16KD_SHAPES` one block deep, or Yosys
    would build the ROM from logic."""
    words = bank_words(width, depth)
    bits = dict(BLOCK_RAM_SHAPES)[words]
    if bits not in _DP16KD_SHAPES or depth > words:
        return None
    blocks = -(-width // bits)
    if _BLOCK_COST * blocks + _MAPPING_COST >= _ROM_BIT_COST * width * depth:
        return None
    return bits, blocks


def initvals(words, bits, column):
    """The ``INITVAL_00`` .. ``INITVAL_3F`` parameters of the DP16KD of ``bits``-bit words that
    holds bits ``column * bits`` upwards of each of ``words``."""
    low = column * bits
    init = 0
    for a, word in enumerate(words):
        init |= ((word >> low) & ((1 << bits) - 1)) << (a * bits)
    row_mask = (1 << _DP16KD_ROW_BITS) - 1
    params = {}
    for k in range(_DP16KD_ROWS // _INITVAL_ROWS):
        value = 0
        for i in range(_INITVAL_ROWS):
            row = (init >> ((k * _INITVAL_ROWS + i) * _DP16KD_ROW_BITS)) & row_mask
            value |= row << (i * _INITVAL_ROW_STRIDE)
        params[f"INITVAL_{k:02X}"] = Const(value, _INITVAL_ROWS * _INITVAL_ROW_STRIDE)
    return params


class RegisteredRom(Elaboratable):
    """``data`` is word ``init[addr]`` two clock edges after ``addr``: at every edge the
    addressed word is read, and the word read is registered.

    On an ECP5 (``platform.family == "ecp5"``) where Yosys would use block RAMs, DP16KD
    instances with their output registers (``REGMODE OUTREG``); anywhere else a Memory and
    a fabric register.
    """

    latency = 2

    def __init__(self, width, init):
        self.width, self.init = width, list(init)
        self.addr = Signal(range(max(len(self.init), 2)))
        self.data = Signal(unsigned(self.width))

    def elaborate(self, platform):
        m = Module()
        shape = _ecp5_shape(self.width, len(self.init))
        if getattr(platform, "family", None) == "ecp5" and shape is not None:
            self._dp16kd(m, *shape)
        else:
            m.submodules.rom = rom = Memory(shape=unsigned(self.width), depth=len(self.init),
                                            init=self.init)
            rd = rom.read_port()
            # Not reset, like the block RAM's output register.
            held = Signal(unsigned(self.width), reset_less=True)
            m.d.comb += [rd.addr.eq(self.addr), self.data.eq(held)]
            m.d.sync += held.eq(rd.data)
        return m

    def _dp16kd(self, m, bits, blocks):
        _, shift, port = _DP16KD_SHAPES[bits]
        address = {f"i_AD{port}{k}": self.addr[k - shift] if 0 <= k - shift < len(self.addr)
                   else 0 for k in range(14)}
        for column in range(blocks):
            out = Signal(36, name=f"column{column}")
            if port == "A":  # a 9- or 18-bit word on port A's outputs
                outputs = {f"o_DOA{k}": out[k] for k in range(18)}
            else:  # a 36-bit word: its low half on port A's outputs, its high half on B's
                outputs = {f"o_DO{p}{k}": out[18 * (p == "B") + k] for p in "AB"
                           for k in range(18)}
            read = {f"i_{pin}{port}": v for pin, v in (
                ("CLK", ClockSignal()), ("CE", 1), ("OCE", 1), ("WE", 0), ("RST", 0))}
            other = "B" if port == "A" else "A"
            idle = {f"i_{pin}{other}": 0 for pin in ("CLK", "CE", "OCE", "WE", "RST")}
            idle |= {f"i_AD{other}{k}": 0 for k in range(14)}
            m.submodules[f"dp16kd{column}"] = Instance(
                "DP16KD",
                p_DATA_WIDTH_A=bits, p_DATA_WIDTH_B=bits,
                # The 36-bit word's low half leaves through port A's outputs, which nextpnr
                # times by REGMODE_A (as it does the PDPW16KD's single REGMODE).
                p_REGMODE_A="OUTREG", p_REGMODE_B="OUTREG" if bits == 36 else "NOREG",
                p_RESETMODE="SYNC", p_ASYNC_RESET_RELEASE="SYNC", p_GSR="DISABLED",
                **{f"p_{k}": v for k, v in
                   initvals(self.init, bits, column).items()},
                **address, **read, **idle,
                **{f"i_CS{p}{k}": 0 for p in "AB" for k in range(3)},
                **{f"i_DI{p}{k}": 0 for p in "AB" for k in range(18)},
                **outputs)
            low, high = column * bits, min((column + 1) * bits, self.width)
            m.d.comb += self.data[low:high].eq(out[:high - low])
