"""The UART board top end to end: bytes in on ``rx`` -> result bytes out on ``tx``, equal to
the reference executor's output (and argmax) for whole networks, and to the input itself for a
pass-through core (which isolates the byte protocol from the network)."""

import numpy as np
import pytest
from amaranth.lib import wiring
from amaranth.hdl import Module
from amaranth.sim import Simulator

import netdesc
from netdesc.builder import NetBuilder
from platforms.board_top import (UartAccelerator, decode_output, encode_input, net_accelerator,
                                 reply_length)
from platforms.regression import EXAMPLES
from platforms.uart import uart_recv, uart_send
from rtl.streams import pixel_signature

DIVISOR = 4  # clock cycles per UART bit: keeps the simulation short


def _exchange(acc, inputs, in_type, out_shape, out_type, timeout=200_000):
    """Send each input once the previous reply is in (the host's rule; a reply may start while
    its input is still being sent); return the decoded ``(tensor, argmax)`` per input."""
    replies = []

    async def host_tx(ctx):
        await ctx.tick().repeat(3)
        for k, x in enumerate(inputs):
            while len(replies) < k:
                await ctx.tick()
            await uart_send(ctx, acc.rx, encode_input(x, in_type), DIVISOR)

    async def host_rx(ctx):
        for _ in inputs:
            data = await uart_recv(ctx, acc.tx, reply_length(out_shape, out_type), DIVISOR,
                                   timeout)
            replies.append(decode_output(data, out_shape, out_type))
        assert ctx.get(acc.error) == 0
        await ctx.tick().repeat(2)
        assert ctx.get(acc.busy) == 0

    sim = Simulator(acc)
    sim.add_clock(1e-6)
    sim.add_testbench(host_tx)
    sim.add_testbench(host_rx)
    sim.run()
    assert len(replies) == len(inputs)
    return replies


class _Passthrough(wiring.Component):
    """A core that returns its input stream unchanged."""

    def __init__(self, ttype, channels):
        sig = pixel_signature(ttype, channels)
        super().__init__({"i": wiring.In(sig), "o": wiring.Out(sig)})

    def elaborate(self, platform):
        m = Module()
        wiring.connect(m, wiring.flipped(self.i), wiring.flipped(self.o))
        return m


@pytest.mark.parametrize("bits,signed,shape", [
    (8, False, (3, 2, 3)),    # one byte per element, edge values below
    (5, True, (2, 3, 1)),     # sub-byte signed: sign extension on the way back
    (12, True, (1, 2, 2)),    # two bytes per element
    (16, False, (2, 1, 2)),
])
def test_passthrough_protocol(bits, signed, shape):
    ttype = netdesc.TensorType(bits, signed)
    rng = np.random.default_rng(bits)
    xs = [rng.integers(ttype.min, ttype.max + 1, size=shape),
          np.where(np.arange(np.prod(shape)).reshape(shape) % 2, ttype.max, ttype.min)]
    acc = UartAccelerator(_Passthrough(ttype, shape[0]), shape, ttype, shape, ttype, DIVISOR)
    replies = _exchange(acc, xs, ttype, shape, ttype)
    for x, (y, argmax) in zip(xs, replies):
        assert argmax is None
        np.testing.assert_array_equal(y, x)


def test_passthrough_vector_argmax():
    """An [N] output carries the argmax byte; ties go to the first maximum (numpy.argmax)."""
    ttype = netdesc.TensorType(6, True)
    n = 7
    xs = [np.array([-32, 5, 31, -1, 31, 0, 2]), np.array([-3, -3, -5, -4, -3, -32, -6]),
          np.random.default_rng(1).integers(-32, 32, size=n)]
    core = _Passthrough(ttype, n)
    # The stream of an [N] tensor is one beat of N elements, as for a 1x1 map with N channels.
    acc = UartAccelerator(core, (n, 1, 1), ttype, (n,), ttype, DIVISOR)
    replies = _exchange(acc, [x.reshape(n, 1, 1) for x in xs], ttype, (n,), ttype)
    for x, (y, argmax) in zip(xs, replies):
        np.testing.assert_array_equal(y, x)
        assert argmax == int(np.argmax(x))


def _signed_wide_net():
    """Multi-byte signed input and output, stride 2, odd sizes, [C, H, W] output."""
    b = NetBuilder("wide", (2, 5, 5), bits=10, signed=True, rng=3)
    b.conv("c1", 3, kernel=3, stride=2, relu=False, bits=12, signed=True)
    return b.build()


@pytest.mark.parametrize("net", [
    pytest.param(lambda: netdesc.load(EXAMPLES / "small_resnet.json"), id="small_resnet"),
    pytest.param(_signed_wide_net, id="signed_wide"),
])
def test_network_over_uart(net):
    net = net()
    rng = np.random.default_rng(7)
    t = net.input.type
    xs = [rng.integers(t.min, t.max + 1, size=net.input.shape),
          np.full(net.input.shape, t.max)]  # saturating input
    out = net.output_layer
    replies = _exchange(net_accelerator(net, None, DIVISOR), xs, t, out.shape, out.type)
    expected = netdesc.run(net, np.stack(xs))
    for want, (y, argmax) in zip(expected, replies):
        np.testing.assert_array_equal(y, want)
        if len(out.shape) == 1:
            assert argmax == int(np.argmax(want))
        else:
            assert argmax is None


def test_encode_rejects_out_of_range():
    with pytest.raises(ValueError, match="outside u8"):
        encode_input(np.full((1, 1, 2), 256), netdesc.TensorType(8, False))
    with pytest.raises(ValueError, match="expected 3"):
        decode_output(b"\x00", (2,), netdesc.TensorType(8, True))
