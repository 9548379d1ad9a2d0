"""The weight ROM of a MAC pipeline, and on registered builds its banks.

A ROM deeper than one block RAM holds at its width is a column of block RAMs, and synthesis
joins their outputs with a multiplexer behind the block RAMs' own output: 5.8 ns from the
ECP5 DP16KD's clock to its output, then routing down the block RAM column and LUTs of
multiplexer, the folded ResNet-8's critical path on the ULX3S. :class:`WeightRom` on a
registered build therefore splits the ROM itself into banks one block RAM deep, registers each
bank's output (:class:`rtl.block_rom.RegisteredRom`: on the ECP5 in the block RAM's own output
register) and multiplexes the registered banks: data two edges after the address instead of
one, the second register being one the MAC array had anyway (:class:`rtl.mac.MacArray`'s
``weight_registers``).
"""

from amaranth.hdl import Array, Elaboratable, Module, Signal, unsigned
from amaranth.lib.memory import Memory

from .block_rom import RegisteredRom, bank_words

__all__ = ["WeightRom"]


class WeightRom(Elaboratable):
    """``data`` is word ``init[addr]`` ``latency`` clock edges after ``addr``: it reads at
    every edge.

    Unbanked (``banked`` false): one Memory, latency 1. Banked: banks of ``bank_depth`` words
    (default :func:`bank_words`), each read into a register of its own
    (:class:`rtl.block_rom.RegisteredRom`), then multiplexed by the address's bank: latency 2,
    ``data`` straight from the multiplexer. ``bank_depth`` must be a power of two.
    """

    def __init__(self, width, init, banked=False, bank_depth=None):
        self.width, self.init = width, list(init)
        depth = len(self.init)
        self.bank_depth = bank_depth or bank_words(width, depth)
        if self.bank_depth & (self.bank_depth - 1):  # a bank's address is the low bits
            raise ValueError(f"bank_depth must be a power of two, not {self.bank_depth}")
        self.banks = -(-depth // self.bank_depth) if banked else 1
        self.banked = banked
        self.latency = 1 + banked
        self.addr = Signal(range(max(depth, 2)))
        self.data = Signal(unsigned(width))

    def elaborate(self, platform):
        m = Module()
        if not self.banked:
            m.submodules.rom = rom = Memory(shape=unsigned(self.width), depth=len(self.init),
                                            init=self.init)
            rd = rom.read_port()
            m.d.comb += [rd.addr.eq(self.addr), self.data.eq(rd.data)]
            return m
        depth = self.bank_depth
        held = []
        for b in range(self.banks):
            words = self.init[b * depth:(b + 1) * depth]
            m.submodules[f"bank{b}"] = bank = RegisteredRom(self.width, words)
            m.d.comb += bank.addr.eq(self.addr[:(len(words) - 1).bit_length()])
            held.append(bank.data)
        if self.banks == 1:
            m.d.comb += self.data.eq(held[0])
            return m
        # The address's bank, delayed as its data: read, then held.
        bank = self.addr // depth
        for k in range(RegisteredRom.latency):
            reg = Signal(range(self.banks), name=f"bank_d{k + 1}")
            m.d.sync += reg.eq(bank)
            bank = reg
        m.d.comb += self.data.eq(Array(held)[bank])
        return m
