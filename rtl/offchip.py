"""Off-chip memory for the PE array: its port, and a simulation model of the memory behind it.

The port (:func:`port_signature`) is two streams: ``req`` carries one word's request (its
address, a write bit, the written data) and ``rsp`` returns each read's data, in request order.
A synthesized accelerator exposes the port, so Yosys counts the accelerator alone;
:class:`OffChipMemory` is the memory simulations put behind it, with a bandwidth and a latency:

- it takes one request every ``ceil(word_bytes / bytes_per_cycle)`` cycles (a word is one
  channel group, :attr:`rtl.array_program.Program.word_bytes`), so a request's bytes never pass
  faster than the bandwidth;
- a read's data arrives ``latency`` cycles after its request was taken, and the array takes it
  at once (``rsp`` has no back-pressure to honour: the array is always ready while it reads);
- ``reads`` and ``writes`` count the words moved, for the traffic model's check.

The simulation runs the accelerator with this memory behind its port
(:class:`rtl.pe_array.ArraySystem`).
"""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

def port_signature(program):
    """The memory port of ``program``'s array: ``req`` (Out) and ``rsp`` (In) streams."""
    width = program.rows * program.lane_bits
    request = data.StructLayout({"addr": unsigned(max(1, (program.remote_words - 1).bit_length())),
                                 "write": 1, "data": unsigned(width)})
    return wiring.Signature({"req": Out(stream.Signature(request)),
                             "rsp": In(stream.Signature(unsigned(width)))})


def cycles_per_word(program, bytes_per_cycle):
    """Cycles between two requests the memory takes at ``bytes_per_cycle``."""
    return -(-program.word_bytes // bytes_per_cycle)


class OffChipMemory(wiring.Component):
    """The off-chip memory of ``program``'s array (see the module docstring); simulation only.

    Ports: ``port`` (the array's ``mem``, flipped), ``reads`` and ``writes`` (words taken)."""

    def __init__(self, program, bytes_per_cycle, latency):
        if bytes_per_cycle < 1 or latency < 1:
            raise ValueError(f"bandwidth and latency must be at least 1 (got {bytes_per_cycle} "
                             f"bytes/cycle, {latency} cycles)")
        self.words = max(program.remote_words, 1)
        self.interval = cycles_per_word(program, bytes_per_cycle)
        self.latency = latency
        super().__init__({"port": In(port_signature(program)), "reads": Out(32),
                          "writes": Out(32)})

    def elaborate(self, platform):
        m = Module()
        req, rsp = self.port.req, self.port.rsp
        width = len(rsp.payload)
        m.submodules.words = mem = Memory(shape=unsigned(width), depth=self.words, init=[])
        rd = mem.read_port(domain="comb")
        wr = mem.write_port()
        busy = Signal(range(self.interval))
        taken = req.valid & req.ready
        m.d.comb += [req.ready.eq(busy == 0), rd.addr.eq(req.payload.addr),
                     wr.addr.eq(req.payload.addr), wr.data.eq(req.payload.data),
                     wr.en.eq(taken & req.payload.write)]
        with m.If(taken):
            m.d.sync += busy.eq(self.interval - 1)
            with m.If(req.payload.write):
                m.d.sync += self.writes.eq(self.writes + 1)
            with m.Else():
                m.d.sync += self.reads.eq(self.reads + 1)
        with m.Elif(busy != 0):
            m.d.sync += busy.eq(busy - 1)
        # the read data's way back: one register per cycle of latency
        valid = [Signal(name=f"valid{k}") for k in range(self.latency)]
        word = [Signal(width, name=f"data{k}") for k in range(self.latency)]
        m.d.sync += [valid[0].eq(taken & ~req.payload.write), word[0].eq(rd.data)]
        for k in range(1, self.latency):
            m.d.sync += [valid[k].eq(valid[k - 1]), word[k].eq(word[k - 1])]
        m.d.comb += [rsp.valid.eq(valid[-1]), rsp.payload.eq(word[-1])]
        return m
