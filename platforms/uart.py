"""UART receiver and transmitter (8 data bits, no parity, 1 stop bit, LSB first), and the
testbench helpers that play the host's side of the line in simulation.

``divisor`` is clock cycles per bit: ``round(clock_hz / baud)`` (e.g. 104 for 115200 baud at
12 MHz). At least :data:`MIN_DIVISOR`, so that the receiver can sample mid-bit.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

MIN_DIVISOR = 4


def check_divisor(divisor):
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < MIN_DIVISOR:
        raise ValueError(f"UART divisor (clock cycles per bit) must be an integer >= "
                         f"{MIN_DIVISOR}, not {divisor!r}")


def divisor_for(clock_hz, baud):
    """Cycles per bit for ``baud`` at ``clock_hz``; raises ``ValueError`` if the rounding error
    exceeds 2 % (a UART tolerates about 4 % between both ends)."""
    divisor = round(clock_hz / baud)
    check_divisor(divisor)
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(f"{baud} baud is {error:.1%} off at {clock_hz / 1e6:g} MHz "
                         f"(divisor {divisor}); choose another baud rate")
    return divisor


class UARTReceiver(wiring.Component):
    """Bytes from the serial line ``rx`` (idle high) on the stream ``o``.

    ``rx`` passes a two-flop synchronizer, then each bit is sampled in its middle. A byte is
    offered on ``o`` once its stop bit has been sampled (about 9.5 bit times after the start
    edge plus 2 cycles), and held with ``o.valid`` until ``o.ready``. A byte whose stop bit is 0
    is discarded and sets ``frame_error``; a byte that completes while the previous one is
    still not taken is discarded and sets ``overrun``. Both flags stay set until reset.
    """

    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    frame_error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor):
        check_divisor(divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        sync1 = Signal(init=1)
        line = Signal(init=1)
        m.d.sync += [sync1.eq(self.rx), line.eq(sync1)]

        timer = Signal(range(self.divisor))
        bit = Signal(range(9))
        shift = Signal(8)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("idle"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "start"
            with m.State("start"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):  # a glitch, not a start bit
                    m.next = "idle"
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                    m.next = "data"
            with m.State("data"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq((line << 7) | (shift >> 1)), timer.eq(self.divisor - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "stop"
            with m.State("stop"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(~line):
                        m.d.sync += self.frame_error.eq(1)
                    with m.Elif(self.o.valid & ~self.o.ready):
                        m.d.sync += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                    # Back to idle in mid stop bit: the next start edge is then seen on time.
                    m.next = "idle"
        return m


class UARTTransmitter(wiring.Component):
    """Bytes from the stream ``i`` onto the serial line ``tx`` (idle high).

    A byte is taken (``i.ready``) when the line is idle and goes out as start bit, 8 data bits
    LSB first and one stop bit, ``divisor`` cycles each: 10 bit times per byte, back to back
    when ``i`` keeps ``valid`` high. ``busy`` is high while a byte is on the line.
    """

    i: In(stream.Signature(8))
    tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, divisor):
        check_divisor(divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        bits_left = Signal(range(11))
        frame = Signal(10, init=0x3FF)  # stop bit, data, start bit; shifted out LSB first
        m.d.comb += [self.busy.eq(bits_left != 0), self.i.ready.eq(bits_left == 0),
                     self.tx.eq(frame[0])]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [frame.eq((1 << 9) | (self.i.payload << 1)), bits_left.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(bits_left != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                m.d.sync += [frame.eq((1 << 9) | (frame >> 1)), bits_left.eq(bits_left - 1),
                             timer.eq(self.divisor - 1)]
        return m


async def uart_send(ctx, rx, data, divisor):
    """Testbench: drive ``data`` (bytes) onto line ``rx`` as the host would, back to back."""
    for byte in data:
        for level in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
            ctx.set(rx, level)
            await ctx.tick().repeat(divisor)


async def uart_recv(ctx, tx, count, divisor, timeout):
    """Testbench: read ``count`` bytes from line ``tx`` as the host would, sampling mid-bit.

    Raises ``TimeoutError`` if a start bit does not come within ``timeout`` cycles, and
    ``ValueError`` on a stop bit that is 0.
    """
    out = bytearray()
    for _ in range(count):
        waited = 0
        while ctx.get(tx):
            await ctx.tick()
            waited += 1
            if waited > timeout:
                raise TimeoutError(f"no start bit within {timeout} cycles after "
                                   f"{len(out)} of {count} bytes")
        await ctx.tick().repeat(divisor // 2)  # middle of the start bit
        byte = 0
        for k in range(8):
            await ctx.tick().repeat(divisor)
            byte |= ctx.get(tx) << k
        await ctx.tick().repeat(divisor)
        if not ctx.get(tx):
            raise ValueError(f"byte {len(out)}: stop bit is 0")
        out.append(byte)
    return bytes(out)
