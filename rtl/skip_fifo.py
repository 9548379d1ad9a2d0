"""The bypass buffer of a skip connection: a first-in first-out stream queue of fixed capacity.

The network top also uses it as the rate FIFO that decouples two engines (rtl/fifo_depth.py).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .timing_model import Block

STYLES = ("auto", "block", "registers")

# Up to this depth "auto" keeps the beats in registers (an asynchronously read memory, which
# Yosys turns into flip-flops or 16-deep LUT RAM); deeper queues go to block RAM.
REGISTER_DEPTH_LIMIT = 16
# Beats a block-RAM queue with output registers keeps in flip-flops after its block RAM.
OUTPUT_REGISTERS = 2


def resolve_style(style, depth):
    """``"block"`` or ``"registers"``: what ``style`` (one of :data:`STYLES`) means at ``depth``."""
    if style not in STYLES:
        raise ValueError(f"memory style must be one of {', '.join(STYLES)}, not {style!r}")
    if style == "auto":
        return "registers" if depth <= REGISTER_DEPTH_LIMIT else "block"
    return style


def output_registers(style, depth, registered):
    """Beats of a queue of ``depth`` in ``style`` held in flip-flops after its block RAM:
    :data:`OUTPUT_REGISTERS` when ``registered`` asks for them and the queue is in block RAM
    (deeper than them), else 0."""
    block = resolve_style(style, depth) == "block" and depth > OUTPUT_REGISTERS
    return OUTPUT_REGISTERS if registered and block else 0


class SkipFifo(wiring.Component):
    """A queue holding up to ``depth`` beats between stream ``i`` and stream ``o``.

    Contract, identical for both storage styles:

    * ``i.ready`` is high exactly when fewer than ``depth`` beats are stored (a full queue does
      not accept a beat in the cycle it gives one away; ``i.ready`` never depends on ``o.ready``);
    * ``o.valid`` is high exactly when at least one beat is stored; a beat accepted at clock
      edge ``t`` can leave at edge ``t + 1`` at the earliest (latency 1);
    * one beat per cycle in and out when neither side stalls; beats leave in arrival order.

    Storage is one :class:`~amaranth.lib.memory.Memory` of ``depth`` entries with one write
    port. ``style="block"`` reads it through a synchronous, write-transparent read port (the
    shape Yosys maps to block RAM); ``style="registers"`` reads it asynchronously (flip-flops or
    LUT RAM), for tiny depths; ``"auto"`` picks by :data:`REGISTER_DEPTH_LIMIT`.

    ``registered``: a block-RAM queue is built as one of ``depth - 2`` beats followed by one of
    2 in registers (:func:`output_registers`), so that no path leaves the block RAM (whose
    output has no register of its own) for the consumer, nor runs from the consumer's ready
    into the block RAM's address. The contract then differs: ``i.ready`` is high when the block
    RAM's queue has room, and a beat leaves two edges after it came at the earliest
    (:class:`FifoModel` with ``output_registers``).
    """

    def __init__(self, payload_shape, depth, style="auto", registered=False):
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
            raise ValueError(f"skip FIFO depth must be a positive integer, not {depth!r}")
        self.depth = depth
        self.style = resolve_style(style, depth)
        self.output_registers = output_registers(style, depth, registered)
        self.payload_shape = payload_shape
        sig = stream.Signature(payload_shape)
        super().__init__({"i": In(sig), "o": Out(sig)})

    def elaborate(self, platform):
        m = Module()
        if self.output_registers:
            m.submodules.queue = queue = SkipFifo(self.payload_shape,
                                                  self.depth - self.output_registers, "block")
            m.submodules.head = head = SkipFifo(self.payload_shape, self.output_registers,
                                                "registers")
            wiring.connect(m, wiring.flipped(self.i), queue.i)
            wiring.connect(m, queue.o, head.i)
            wiring.connect(m, head.o, wiring.flipped(self.o))
            return m
        depth = self.depth
        m.submodules.storage = storage = Memory(shape=self.payload_shape, depth=depth, init=[])
        wport = storage.write_port()

        level = Signal(range(depth + 1))
        wptr = Signal(range(depth))
        rptr = Signal(range(depth))
        do_write = self.i.valid & self.i.ready
        do_read = self.o.valid & self.o.ready

        m.d.comb += [
            self.i.ready.eq(level != depth),
            self.o.valid.eq(level != 0),
            wport.addr.eq(wptr),
            wport.data.eq(self.i.payload),
            wport.en.eq(do_write),
        ]
        with m.If(do_write):
            m.d.sync += wptr.eq(_increment(wptr, depth))
        with m.If(do_read):
            m.d.sync += rptr.eq(_increment(rptr, depth))
        with m.If(do_write & ~do_read):
            m.d.sync += level.eq(level + 1)
        with m.Elif(do_read & ~do_write):
            m.d.sync += level.eq(level - 1)

        if self.style == "block":
            # The port reads the address the queue's head will have after this edge, so its
            # registered output is the head; transparency covers a beat written at that address
            # in the same cycle (a beat entering an empty or just-emptied queue).
            rport = storage.read_port(domain="sync", transparent_for=(wport,))
            m.d.comb += rport.addr.eq(_increment(rptr, depth, when=do_read))
        else:
            rport = storage.read_port(domain="comb")
            m.d.comb += rport.addr.eq(rptr)
        m.d.comb += self.o.payload.eq(rport.data)
        return m


def _increment(ptr, depth, when=True):
    """``ptr + 1`` modulo ``depth`` if ``when``, else ``ptr`` (a compare, not a divider)."""
    if depth == 1:
        return ptr
    return Mux(when, Mux(ptr == depth - 1, 0, ptr + 1), ptr)


class FifoModel(Block):
    """The timing of a :class:`SkipFifo` of ``depth``: ready below ``depth`` beats, latency 1;
    with ``output_registers`` (:func:`output_registers`), that of its two queues in a row."""

    def __init__(self, i, o, depth, output_registers=0):
        self.i, self.o = i, o
        self.depth, self.head_depth = depth - output_registers, output_registers
        self.level = self.head = 0  # beats in the (first) queue, in the output registers
        self.max_level = 0

    def forward(self):
        self.o.valid = (self.head if self.head_depth else self.level) > 0

    def backward(self):
        self.i.ready = self.level < self.depth

    def update(self):
        if self.head_depth:
            moved = int(self.level > 0 and self.head < self.head_depth)
            self.level += int(self.i.fire) - moved
            self.head += moved - int(self.o.fire)
        else:
            self.level += int(self.i.fire) - int(self.o.fire)
        self.max_level = max(self.max_level, self.level + self.head)

    def countdown(self):
        # A beat moving from the queue into the output registers is an event of its own.
        return 1 if self.level and self.head < self.head_depth else None

    def advance(self, n):
        moved = min(n, self.level, self.head_depth - self.head)
        self.level -= moved
        self.head += moved
