"""A RAM whose read is registered and whose design never reads a word in the cycle it writes it.

Amaranth's synchronous read port reads the word as it was before a write at the same edge, and
Amaranth declares that (``COLLISION_X_MASK`` 0): Yosys then keeps the write's data and address
in flip-flops and compares them with the read address, beside every block RAM whose ports
differ, to emulate that rule (an 8-bit RAM of 384 words: one ECP5 DP16KD and 27 flip-flops and
28 LUTs more, on the iCE40 27 and 19; its multiplexer follows the block RAM's output). A RAM
read through an asynchronous port into a register and marked ``no_rw_check`` has the same
behaviour in simulation, and Yosys merges the register into the block RAM without that logic:
a collision's word is left undefined, which the users of this module never read.
"""

from amaranth.hdl import Signal
from amaranth.lib.memory import Memory

__all__ = ["registered_ram"]


def registered_ram(m, name, shape, depth, init=()):
    """A memory of ``depth`` words of ``shape`` as submodule ``name`` of ``m``: ``(memory, read
    address, read data)``, the data the word at the address of the cycle before. The caller adds
    the write ports and must never use a word read at the edge that writes it."""
    m.submodules[name] = mem = Memory(shape=shape, depth=depth, init=init,
                                      attrs={"no_rw_check": 1})
    rd = mem.read_port(domain="comb")
    data = Signal(shape, name=f"{name}_data")
    m.d.sync += data.eq(rd.data)
    return mem, rd.addr, data
