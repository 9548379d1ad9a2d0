"""UART receiver and transmitter against the host-side line model (``uart_send`` /
``uart_recv``), which is itself checked against a hand-built bit sequence."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from platforms.uart import (UARTReceiver, UARTTransmitter, check_divisor, divisor_for,
                            uart_recv, uart_send)


def _run(dut, *testbenches):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("divisor", [4, 5, 7])
def test_transmitter_waveform(divisor):
    """Start bit, 8 data bits LSB first, stop bit, each ``divisor`` cycles, then idle high."""
    dut = UARTTransmitter(divisor)
    levels = []

    async def tb(ctx):
        assert ctx.get(dut.tx) == 1
        ctx.set(dut.i.payload, 0b1011_0010)
        ctx.set(dut.i.valid, 1)
        await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        for _ in range(11 * divisor):
            levels.append(ctx.get(dut.tx))
            await ctx.tick()

    _run(dut, tb)
    expected = [0, 0, 1, 0, 0, 1, 1, 0, 1, 1]
    assert levels == [b for b in expected for _ in range(divisor)] + [1] * divisor


@pytest.mark.parametrize("divisor", [4, 5, 9])
def test_transmitter_back_to_back(divisor):
    data = bytes(random.Random(divisor).randrange(256) for _ in range(12)) + b"\x00\xff"
    dut = UARTTransmitter(divisor)
    got = []

    async def send(ctx):
        for b in data:
            ctx.set(dut.i.payload, b)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def receive(ctx):
        got.append(await uart_recv(ctx, dut.tx, len(data), divisor, timeout=20 * divisor))

    _run(dut, send, receive)
    assert got == [data]


class _Loopback(wiring.Component):
    """Receiver feeding the transmitter: what comes in on ``rx`` goes out on ``tx``."""

    def __init__(self, divisor):
        self.receiver = UARTReceiver(divisor)
        self.transmitter = UARTTransmitter(divisor)
        super().__init__({"rx": wiring.In(1, init=1), "tx": wiring.Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = self.receiver
        m.submodules.tx = self.transmitter
        wiring.connect(m, self.receiver.o, self.transmitter.i)
        m.d.comb += [self.receiver.rx.eq(self.rx), self.tx.eq(self.transmitter.tx)]
        return m


@pytest.mark.parametrize("divisor", [4, 6, 11])
def test_loopback_random_bytes(divisor):
    data = bytes(random.Random(100 + divisor).randrange(256) for _ in range(20)) + b"\x00\xff\x55"
    dut = _Loopback(divisor)
    got = []

    async def host_tx(ctx):
        await ctx.tick().repeat(3)
        await uart_send(ctx, dut.rx, data, divisor)

    async def host_rx(ctx):
        got.append(await uart_recv(ctx, dut.tx, len(data), divisor, timeout=40 * divisor))

    _run(dut, host_tx, host_rx)
    assert got == [data]


def test_receiver_frame_error_and_overrun():
    divisor = 5
    dut = UARTReceiver(divisor)
    seen = {}

    async def tb(ctx):
        # A byte whose stop bit is 0: discarded, frame_error set.
        for level in [0] + [1, 0, 1, 0, 1, 0, 1, 0] + [0]:
            ctx.set(dut.rx, level)
            await ctx.tick().repeat(divisor)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * divisor)
        seen["frame_error"] = ctx.get(dut.frame_error)
        seen["valid_after_bad"] = ctx.get(dut.o.valid)
        # Two good bytes with nobody taking them: the first waits, the second is dropped.
        await uart_send(ctx, dut.rx, b"\x3c\xa5", divisor)
        await ctx.tick().repeat(2 * divisor)
        seen["overrun"] = ctx.get(dut.overrun)
        seen["held"] = ctx.get(dut.o.payload) if ctx.get(dut.o.valid) else None

    _run(dut, tb)
    assert seen == {"frame_error": 1, "valid_after_bad": 0, "overrun": 1, "held": 0x3C}


def test_receiver_ignores_glitch():
    divisor = 8
    dut = UARTReceiver(divisor)
    got = []

    async def tb(ctx):
        ctx.set(dut.rx, 0)  # shorter than half a bit: not a start bit
        await ctx.tick().repeat(2)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3 * divisor)
        await uart_send(ctx, dut.rx, b"\x81", divisor)
        await ctx.tick().repeat(divisor)
        got.append((ctx.get(dut.o.valid), ctx.get(dut.o.payload), ctx.get(dut.frame_error)))

    _run(dut, tb)
    assert got == [(1, 0x81, 0)]


def test_divisor_rules():
    assert divisor_for(12e6, 115200) == 104
    assert divisor_for(25e6, 115200) == 217
    with pytest.raises(ValueError, match="off at"):
        divisor_for(12e6, 1_600_000)  # 7.5 cycles per bit: 8 is 6 % off
    with pytest.raises(ValueError, match=">= 4"):
        check_divisor(3)
    with pytest.raises(ValueError):
        check_divisor(2.5)
