"""The accelerator behind a UART: tensors in and results out as bytes, and status LEDs.

UART protocol
-------------

Line: 8 data bits, no parity, 1 stop bit, LSB first; :data:`DEFAULT_BAUD` (115200) unless the
build chose another rate (``tailor build --baud``), from the board clock (divisor
``round(f_clk / baud)``: 104 at 12 MHz, 217 at 25 MHz).

Host to board: one input tensor ``[C, H, W]`` of the netdesc's input type, in the order the
accelerator streams it: pixels in raster order (row by row, left to right), and within a pixel
the channels 0..C-1. Each element is ``ceil(bits / 8)`` bytes, little-endian, two's complement
when the type is signed (sign-extended to whole bytes). The board keeps the low ``bits`` bits
of each element; the host must send values inside the type's range (:func:`encode_input`
checks).

Board to host: the output tensor, elements in the same order and encoding (output type): for a
``[C, H, W]`` output, pixel by pixel with channels innermost; for an ``[N]`` vector, elements
0..N-1. For an ``[N]`` output (a classifier, N <= 256) one more byte follows: the argmax, the
index of the first largest element (as ``numpy.argmax``). :func:`decode_output` parses a
reply; :func:`reply_length` says how many bytes to wait for.

Send one tensor, then read its reply, then send the next. The accelerator pipelines, but the
transmitter is slower than the receiver for most networks, so a host that streams inputs ahead
makes the board apply back-pressure it cannot pass on to the line: the receiver then drops
bytes and lights the error LED (``overrun``).

LEDs: ``busy`` (LED 1, green on the iCEBreaker) is lit from the first byte of an input until
the last byte of the reply has been sent; ``error`` (LED 0, red on the iCEBreaker) is lit, until
reset, after a byte with a bad stop bit or a byte dropped because the accelerator was not ready.
"""

import numpy as np
from amaranth.hdl import Cat, Elaboratable, Module, Signal, signed, unsigned
from amaranth.lib import io, stream, wiring
from amaranth.lib.wiring import In, Out

from rtl.streams import beat_shape, pixel_layout

from .uart import UARTReceiver, UARTTransmitter, divisor_for

DEFAULT_BAUD = 115200
MAX_ARGMAX_CLASSES = 256


def element_bytes(ttype):
    return (ttype.bits + 7) // 8


def _stream_order(x):
    """Elements of a [C, H, W] or [N] tensor in stream order (pixels, channels innermost)."""
    x = np.asarray(x)
    return x.reshape(x.shape[0], -1).T.ravel() if x.ndim == 3 else x.ravel()


def _encode(values, ttype):
    nb = element_bytes(ttype)
    out = bytearray()
    for v in values:
        v = int(v)
        if not ttype.min <= v <= ttype.max:
            raise ValueError(f"value {v} is outside {ttype} [{ttype.min}, {ttype.max}]")
        out += (v & ((1 << (8 * nb)) - 1)).to_bytes(nb, "little")
    return bytes(out)


def encode_input(x, ttype):
    """Host side: the bytes that send tensor ``x`` ([C, H, W]) of type ``ttype``."""
    return _encode(_stream_order(x), ttype)


def has_argmax(shape):
    return len(shape) == 1


def reply_length(shape, ttype):
    """Bytes the board sends back for one output tensor of ``shape`` and ``ttype``."""
    beats, channels = beat_shape(shape)
    return beats * channels * element_bytes(ttype) + (1 if has_argmax(shape) else 0)


def decode_output(data, shape, ttype):
    """Host side: ``(tensor int64 of shape, argmax or None)`` from one reply's bytes."""
    if len(data) != reply_length(shape, ttype):
        raise ValueError(f"reply has {len(data)} bytes, expected {reply_length(shape, ttype)}")
    nb = element_bytes(ttype)
    n = int(np.prod(shape))
    values = [int.from_bytes(data[k * nb:(k + 1) * nb], "little", signed=ttype.signed)
              for k in range(n)]
    if len(shape) == 3:
        c, h, w = shape
        tensor = np.array(values, dtype=np.int64).reshape(h * w, c).T.reshape(shape)
    else:
        tensor = np.array(values, dtype=np.int64)
    return tensor, (data[-1] if has_argmax(shape) else None)


class TensorDeserializer(wiring.Component):
    """Bytes on ``i`` -> pixels of ``channels`` elements of ``ttype`` on ``o``.

    Each element takes ``ceil(bits / 8)`` bytes, little-endian; the low ``bits`` bits are kept.
    A pixel is offered on ``o`` the cycle after its last byte was taken and held until
    ``o.ready``; ``i`` is not ready while a pixel waits.
    """

    def __init__(self, ttype, channels):
        self.ttype = ttype
        self.channels = channels
        self.nbytes = element_bytes(ttype) * channels
        super().__init__({"i": In(stream.Signature(8)),
                          "o": Out(stream.Signature(pixel_layout(ttype, channels)))})

    def elaborate(self, platform):
        m = Module()
        eb = element_bytes(self.ttype)
        raw = Signal(8 * self.nbytes)
        count = Signal(range(self.nbytes))
        m.d.comb += self.i.ready.eq(~self.o.valid)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            # Bytes shift in from the top, so the first ends at the bottom: no byte decoder.
            m.d.sync += raw.eq(Cat(raw[8:], self.i.payload))
            with m.If(count == self.nbytes - 1):
                m.d.sync += [count.eq(0), self.o.valid.eq(1)]
            with m.Else():
                m.d.sync += count.eq(count + 1)
        bits = self.ttype.bits
        m.d.comb += self.o.payload.as_value().eq(
            Cat(raw[8 * eb * k:8 * eb * k + bits] for k in range(self.channels)))
        return m


def check_output_shape(shape):
    """``ValueError`` for an output the serializer cannot send: an ``[N]`` tensor's argmax is
    one byte."""
    channels = beat_shape(tuple(shape))[1]
    if has_argmax(tuple(shape)) and channels > MAX_ARGMAX_CLASSES:
        raise ValueError(f"an [N] output sends its argmax as one byte, so N must be at most "
                         f"{MAX_ARGMAX_CLASSES}, not {channels}")


class TensorSerializer(wiring.Component):
    """Pixels of a tensor of ``shape`` and ``ttype`` on ``i`` -> bytes on ``o``.

    Each element goes out as ``ceil(bits / 8)`` bytes, little-endian, sign-extended when
    signed. For an ``[N]`` tensor (one beat) the argmax byte follows the N elements. A beat is
    taken from ``i`` only when the previous one has been sent entirely, and each byte is offered
    on ``o`` from the cycle after the previous one was taken; ``done`` pulses for one cycle when
    the last byte of a tensor (argmax included) is taken by ``o``.
    """

    def __init__(self, shape, ttype):
        self.shape = tuple(shape)
        self.ttype = ttype
        self.beats, self.channels = beat_shape(self.shape)
        self.argmax = has_argmax(self.shape)
        check_output_shape(self.shape)
        super().__init__({"i": In(stream.Signature(pixel_layout(ttype, self.channels))),
                          "o": Out(stream.Signature(8)), "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        t = self.ttype
        eb = element_bytes(t)
        # The beat shifts down one element at a time, so the element being sent (and compared
        # for the argmax) is always at the bottom: no element multiplexer before the comparator.
        held = Signal(t.bits * self.channels)
        element = Signal(range(self.channels))
        byte = Signal(range(eb))
        beat = Signal(range(self.beats))
        value = Signal(signed(t.bits) if t.signed else unsigned(t.bits))
        wide = Signal(8 * eb)
        m.d.comb += [value.eq(held[:t.bits]), wide.eq(value)]
        last_byte = (byte == eb - 1) & (element == self.channels - 1)
        best = Signal.like(value)
        best_index = Signal(8)
        # A byte is offered one cycle after the previous one was taken, so that the argmax
        # comparison can come from a register (a cycle per byte, against a UART's thousand).
        settled = Signal()
        greater = Signal()
        m.d.sync += [settled.eq(1), greater.eq(value > best)]

        with m.FSM():
            with m.State("take"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [held.eq(self.i.payload.as_value()), element.eq(0), byte.eq(0),
                                 settled.eq(0)]
                    m.next = "send"
            with m.State("send"):
                m.d.comb += [self.o.valid.eq(settled),
                             self.o.payload.eq(wide.word_select(byte, 8))]
                with m.If(self.o.valid & self.o.ready):
                    m.d.sync += settled.eq(0)
                    if self.argmax:
                        # Strictly greater: the first of equal maxima wins, as numpy.argmax.
                        with m.If((byte == 0) & ((element == 0) | greater)):
                            m.d.sync += [best.eq(value), best_index.eq(element)]
                    with m.If(byte == eb - 1):
                        m.d.sync += [byte.eq(0), element.eq(element + 1),
                                     held.eq(held >> t.bits)]
                    with m.Else():
                        m.d.sync += byte.eq(byte + 1)
                    with m.If(last_byte):
                        if self.argmax:
                            m.next = "argmax"
                        else:
                            with m.If(beat == self.beats - 1):
                                m.d.sync += beat.eq(0)
                                m.d.comb += self.done.eq(1)
                            with m.Else():
                                m.d.sync += beat.eq(beat + 1)
                            m.next = "take"
            if self.argmax:
                with m.State("argmax"):
                    m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(best_index)]
                    with m.If(self.o.ready):
                        m.d.comb += self.done.eq(1)
                        m.next = "take"
        return m


class UartAccelerator(wiring.Component):
    """A streaming accelerator ``core`` (stream ``i`` of input pixels, stream ``o`` of output
    beats) behind the UART protocol of this module's docstring.

    Ports: ``rx`` / ``tx`` serial lines (idle high), ``busy`` and ``error`` for LEDs.
    ``divisor``: clock cycles per UART bit.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)
    error: Out(1)

    def __init__(self, core, in_shape, in_type, out_shape, out_type, divisor):
        self.core = core
        self.receiver = UARTReceiver(divisor)
        self.transmitter = UARTTransmitter(divisor)
        self.deserializer = TensorDeserializer(in_type, in_shape[0])
        self.serializer = TensorSerializer(out_shape, out_type)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.receiver = rx = self.receiver
        m.submodules.deserializer = des = self.deserializer
        m.submodules.core = self.core
        m.submodules.serializer = ser = self.serializer
        m.submodules.transmitter = tx = self.transmitter
        wiring.connect(m, rx.o, des.i)
        wiring.connect(m, des.o, self.core.i)
        wiring.connect(m, self.core.o, ser.i)
        wiring.connect(m, ser.o, tx.i)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     self.error.eq(rx.frame_error | rx.overrun)]
        with m.If(rx.o.valid & rx.o.ready):
            m.d.sync += self.busy.eq(1)
        with m.Elif(ser.done):
            m.d.sync += self.busy.eq(0)
        return m


def net_accelerator(net, hw, divisor, arch="dataflow"):
    """:class:`UartAccelerator` around the accelerator of ``net`` under ``hw`` in architecture
    ``arch`` (:func:`rtl.accelerators.accelerator`)."""
    from rtl.accelerators import accelerator
    out = net.output_layer
    return UartAccelerator(accelerator(net, hw, arch), net.input.shape, net.input.type,
                           out.shape, out.type, divisor)


class BoardTop(Elaboratable):
    """Board-level top for an amaranth-boards platform: a :class:`UartAccelerator` built by
    ``make_accelerator(divisor)`` on the board's ``uart`` 0, with ``error`` on LED 0 and
    ``busy`` on LED 1. The divisor comes from the platform's default clock and ``baud``.
    """

    def __init__(self, make_accelerator, baud=DEFAULT_BAUD):
        self.make_accelerator = make_accelerator
        self.baud = baud

    def elaborate(self, platform):
        m = Module()
        divisor = divisor_for(platform.default_clk_frequency, self.baud)
        m.submodules.accelerator = acc = self.make_accelerator(divisor)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buffer = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx = io.Buffer("o", uart.tx)
        m.submodules.error_led = error = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.submodules.busy_led = busy = io.Buffer("o", platform.request("led", 1, dir="-"))
        m.d.comb += [acc.rx.eq(rx.i), tx.o.eq(acc.tx), busy.o.eq(acc.busy),
                     error.o.eq(acc.error)]
        return m
