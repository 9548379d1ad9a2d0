"""Simulate the generated RTL: the public Python API for users' own pytest files.

Two calls, both cycle-accurate and both returning a :class:`SimResult`::

    from rtl.sim import simulate, simulate_layer
    r = simulate("net.json", x)                  # x: int [N, C, H, W] or [C, H, W]
    assert (r.outputs == netdesc.run(net, x)).all()
    r = simulate_layer(net, "b1_conv1", x1)      # x1: the layer's input tensors
    print(r.cycles_per_inference, r.steady_state_cycles, r.backend)

Two backends give identical results (outputs, every beat's cycle stamp, stall reports):
``backend="compiled"`` verilates the design (:mod:`rtl.compiled_sim`, cached per design) and
runs about a million cycles per second; ``backend="pysim"`` is Amaranth's Python simulator.
The default is the compiled backend when this machine can build it, else pysim.

Inputs are streamed back to back (the next tensor's first pixel right after the previous
tensor's last), outputs are taken whenever valid, so the cycle counts are those of the design
itself. A run in which no stream (internal ones included) moves a beat for ``stall_cycles``
cycles stops with a
:class:`~common.errors.TailorError` naming the blocked and the starved streams; it never hangs.
"""

import functools
import importlib.metadata
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amaranth.hdl import Const, Elaboratable, Module, Signal, Value

import netdesc
from common.errors import TailorError
from common.io import atomic_path
from netdesc.ops import op_of

from . import compiled_sim
from .engines import build_engine
from .network import NetworkTop
from .streams import CycleCounter, beat_shape, from_beats, get_pixels, put_pixels, to_beats

DEFAULT_STALL_CYCLES = 20000
_WATCH_INTERVAL = 64  # cycles between two looks of the stall watchdog
_PERIOD = 1e-6  # simulated clock period, seconds (any value; cycle counts are what matter)


@dataclass
class SimResult:
    """What a simulation measured. Cycle numbers count clock edges; edge 0 accepted the first
    input beat.

    ``outputs``: int64, ``[N, ...]`` (the output tensors, one per input).
    ``first_output_cycle``: edge of the first output beat.
    ``cycles_per_inference``: edges from the first input beat of inference 0 to its last output
    beat, inclusive (the latency of one inference through an empty design).
    ``steady_state_cycles``: edges between the last output beats of the last two inferences
    (the throughput of back-to-back inferences), ``None`` for a single input.
    ``total_cycles``: edges until the last output beat, inclusive.
    ``input_stamps`` / ``output_stamps``: per stream, the edge of every beat.
    ``backend``: "compiled" or "pysim"; ``versions``: the simulation tools' versions;
    ``compile_seconds``: building the compiled model (0.0 when it came from the cache, or for
    pysim); ``wall_seconds``: the simulation run itself (neither backend's preparation).
    """

    outputs: np.ndarray
    first_output_cycle: int
    cycles_per_inference: int
    steady_state_cycles: int
    total_cycles: int
    input_stamps: list
    output_stamps: list
    wall_seconds: float = 0.0
    backend: str = "pysim"
    versions: dict = None
    compile_seconds: float = 0.0

    @property
    def cycles_per_second(self):
        """Simulator speed: clock cycles simulated per wall-clock second."""
        return self.total_cycles / self.wall_seconds if self.wall_seconds else 0.0


@dataclass
class StreamPort:
    """A stream of the design under test to drive or read: its interface, tensor shape and type."""

    stream: object
    shape: tuple
    ttype: netdesc.TensorType
    name: str
    gaps: list = None  # per tensor, per beat idle cycles before the beat (a slow peer); None: none

    @property
    def width(self):
        """Payload bits."""
        return Value.cast(self.stream.payload).shape().width

    @property
    def lanes(self):
        """Channels per beat (:mod:`rtl.streams`): as many as the payload holds."""
        return self.width // self.ttype.bits


BACKENDS = ("compiled", "pysim")


def choose_backend(backend=None):
    """The backend to run: ``backend`` if given ("compiled" raises a :class:`TailorError` when
    no model can be built here), else "compiled" when it can be built, else "pysim" (with a
    warning saying why)."""
    if backend not in (None, *BACKENDS):
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "pysim":
        return backend
    reason = compiled_sim.unavailable_reason()
    if reason is None:
        return "compiled"
    if backend == "compiled":
        raise TailorError(f"the compiled simulation backend cannot be built here: {reason}")
    _warn_fallback(reason)
    return "pysim"


@functools.cache
def _warn_fallback(reason):
    warnings.warn(f"simulating with Amaranth's Python simulator: compiled models cannot be "
                  f"built here ({reason})", stacklevel=3)


def run_streams(dut, inputs, outputs, feeds, count, *, monitors=(), vcd=None,
                stall_cycles=DEFAULT_STALL_CYCLES, progress=False, backend=None, platform=None):
    """Drive ``dut``: stream ``feeds[k]`` (a list of ``count`` tensors) into ``inputs[k]`` and
    collect ``count`` tensors from each of ``outputs``. ``monitors`` maps names to the
    internal streams the stall watchdog reports on; ``progress`` shows a tqdm bar of output
    tensors; ``backend``: see :func:`choose_backend`; ``platform``: the Amaranth platform to
    elaborate ``dut`` for, as a board build does (its DSP primitives, :mod:`rtl.dsp`; the
    compiled backend only). Returns a :class:`SimResult` whose ``outputs`` are those of
    ``outputs[0]``."""
    from tqdm import tqdm

    backend = choose_backend(backend)
    if platform is not None and backend != "compiled":
        raise ValueError("only the compiled backend simulates a design elaborated for a "
                         "platform (Amaranth's simulator runs no vendor primitives)")
    watched = dict(monitors)
    for p in list(inputs) + list(outputs):
        watched.setdefault(p.name, p.stream)
    bench = SimBench(dut, watched)
    run = functools.partial(_run_compiled, platform=platform) if backend == "compiled" \
        else _run_pysim
    with tqdm(total=count, unit="inference", desc=f"simulating ({backend})",
              disable=None if progress else True, leave=False) as bar:
        tensors, in_stamps, out_stamps, wall, compile_seconds = run(
            bench, inputs, outputs, feeds, count, vcd, stall_cycles, bar)
    result = _result(tensors, in_stamps, out_stamps, outputs[0], count, wall)
    result.backend, result.compile_seconds = backend, compile_seconds
    result.versions = {"amaranth": importlib.metadata.version("amaranth")}
    if backend == "compiled":
        result.versions.update(compiled_sim.toolchain().versions)
    return result


class SimBench(Elaboratable):
    """The design under test as both backends simulate it: ``cycle`` counts clock edges (the
    stamps), ``beats`` counts the cycles in which any watched stream moved a beat (what the
    stall watchdog watches: internal streams included, so a long computation between input
    and output beats is not mistaken for a stall), and ``blocked`` / ``starved`` hold one bit
    per watched stream (valid but not ready / ready but not valid) for the stall report."""

    def __init__(self, dut, watched):
        self.counter = CycleCounter(dut)
        self.cycle = self.counter.cycle
        self.names = list(watched)
        self.streams = list(watched.values())
        self.beats = Signal(32)
        self.blocked = Signal(len(self.streams))
        self.starved = Signal(len(self.streams))

    def elaborate(self, platform):
        m = Module()
        m.submodules.counter = self.counter
        moved = Const(0)
        for k, s in enumerate(self.streams):
            moved = moved | (s.valid & s.ready)
            m.d.comb += [self.blocked[k].eq(s.valid & ~s.ready),
                         self.starved[k].eq(s.ready & ~s.valid)]
        m.d.sync += self.beats.eq(self.beats + moved)
        return m

    def stall_message(self, idle, blocked, starved):
        """The watchdog's report from the ``blocked`` / ``starved`` bits it saw."""
        def named(bits):
            return ", ".join(repr(n) for k, n in enumerate(self.names) if bits >> k & 1) or "none"
        return (f"stall: no stream moved a beat for {idle} cycles; "
                f"valid but not ready: {named(blocked)}; ready but not valid: {named(starved)}")


def _run_pysim(bench, inputs, outputs, feeds, count, vcd, stall_cycles, bar):
    """Amaranth's simulator with async testbenches (:func:`rtl.streams.put_pixels` /
    :func:`~rtl.streams.get_pixels`)."""
    from amaranth.sim import Simulator

    in_stamps = [[] for _ in inputs]
    out_stamps = [[] for _ in outputs]
    results = [[] for _ in outputs]

    def producer(k):
        port = inputs[k]

        async def run(ctx):
            for t, x in enumerate(feeds[k]):
                await put_pixels(ctx, port.stream, x, port.ttype, lanes=port.lanes,
                                 cycle=bench.cycle,
                                 stamps=in_stamps[k], gaps=port.gaps and port.gaps[t])
        return run

    def consumer(k):
        port = outputs[k]

        async def run(ctx):
            for t in range(count):
                results[k].append(await get_pixels(ctx, port.stream, port.shape, port.ttype,
                                                   lanes=port.lanes, cycle=bench.cycle,
                                                   stamps=out_stamps[k],
                                                   gaps=port.gaps and port.gaps[t]))
                if k == 0:
                    bar.update()
        return run

    async def watchdog(ctx):
        last, idle = None, 0
        while True:
            await ctx.delay(_WATCH_INTERVAL * _PERIOD)
            seen = ctx.get(bench.beats)
            idle = idle + _WATCH_INTERVAL if seen == last else 0
            last = seen
            if idle >= stall_cycles:
                raise _Stall(bench.stall_message(idle, ctx.get(bench.blocked),
                                                 ctx.get(bench.starved)))

    sim = Simulator(bench)
    sim.add_clock(_PERIOD)
    for k in range(len(inputs)):
        sim.add_testbench(producer(k))
    for k in range(len(outputs)):
        sim.add_testbench(consumer(k))
    sim.add_testbench(watchdog, background=True)
    stall = None
    start = time.perf_counter()
    try:
        if vcd is not None:  # written whole or not at all: a stopped run leaves no partial file
            with atomic_path(vcd) as tmp, sim.write_vcd(str(tmp)):
                sim.run()
        else:
            sim.run()
    except _Stall as e:
        stall = str(e)
    if stall is not None:
        del sim
        _collect_quietly()
        raise TailorError(stall)
    return results[0], in_stamps, out_stamps, time.perf_counter() - start, 0.0


def _run_compiled(bench, inputs, outputs, feeds, count, vcd, stall_cycles, bar, platform=None):
    """The bench verilated (:mod:`rtl.compiled_sim`), driven by the C++ twin of the
    testbenches above."""
    bar.set_description("compiling the simulation model (once per design)")
    model = compiled_sim.build(bench, [p.stream for p in inputs], [p.stream for p in outputs],
                               trace=vcd is not None, platform=platform)
    bar.set_description("simulating (compiled)")
    ports_in = [compiled_sim.Port(p.width, raws=[r for x in feed for r in to_beats(x, p.ttype, p.lanes)],
                                  gaps=_flat_gaps(p, count)) for p, feed in zip(inputs, feeds)]
    ports_out = [compiled_sim.Port(p.width, beats=beat_shape(p.shape, p.lanes)[0] * count,
                                   gaps=_flat_gaps(p, count)) for p in outputs]
    per_tensor = beat_shape(outputs[0].shape, outputs[0].lanes)[0]

    def simulate(path):
        result = compiled_sim.run(model, ports_in, ports_out, stall_cycles, path,
                                  lambda moved: bar.update(moved // per_tensor - bar.n))
        if result.stall is not None:
            stall = result.stall
            raise TailorError(bench.stall_message(stall.idle, stall.blocked, stall.starved))
        return result

    start = time.perf_counter()
    if vcd is not None:  # as with pysim: the whole file or none
        with atomic_path(vcd) as tmp:
            result = simulate(tmp)
    else:
        result = simulate(None)
    wall = time.perf_counter() - start
    bar.update(count - bar.n)
    raws = result.out_raws[0]
    tensors = [from_beats(raws[t * per_tensor:(t + 1) * per_tensor], outputs[0].shape,
                          outputs[0].ttype, outputs[0].lanes) for t in range(count)]
    return tensors, result.in_stamps, result.out_stamps, wall, model.compile_seconds


def _flat_gaps(port, count):
    """A port's per tensor, per beat gaps as one list over the run (``None``: no gaps)."""
    return [g for t in range(count) for g in port.gaps[t]] if port.gaps else None


class _Stall(Exception):
    """Raised by the watchdog inside the simulation; turned into a TailorError outside it."""


def _collect_quietly():
    """Free a simulation stopped mid-run. Its testbenches are suspended inside Amaranth's
    ``tick().until()``, whose clean-up complains when the coroutine is closed; that complaint
    is noise once the run has been abandoned on purpose."""
    import gc
    import sys
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook


def _result(tensors, in_stamps, out_stamps, out_port, count, wall):
    stamps = out_stamps[0]
    per = beat_shape(out_port.shape, out_port.lanes)[0]
    ends = [stamps[(k + 1) * per - 1] for k in range(count)]
    start = min(s[0] for s in in_stamps)
    return SimResult(
        outputs=np.array(tensors, dtype=np.int64),
        first_output_cycle=stamps[0] - start,
        cycles_per_inference=ends[0] - start + 1,
        steady_state_cycles=ends[-1] - ends[-2] if count > 1 else None,
        total_cycles=max(max(s) for s in out_stamps) - start + 1,
        input_stamps=in_stamps, output_stamps=out_stamps, wall_seconds=wall)


def _load(net_or_path):
    if isinstance(net_or_path, netdesc.Netdesc):
        return net_or_path
    return netdesc.load(Path(net_or_path))


def simulate(net_or_path, x, hw=None, vcd=None, stall_cycles=DEFAULT_STALL_CYCLES, backend=None):
    """Run the whole-network accelerator (:class:`rtl.network.NetworkTop`) on ``x``.

    ``x``: integer ``[N, C, H, W]`` or ``[C, H, W]`` (checked like ``tailor ref``);
    ``hw``: an :class:`rtl.hwconfig.HwConfig` (default: :meth:`HwConfig.default`);
    ``vcd``: a file name to write the waveforms to; ``backend``: see :func:`choose_backend`.
    ``outputs`` has shape ``[N, ...]``.
    """
    net = _load(net_or_path)
    xs = netdesc.check_input(net, x)
    return simulate_top(NetworkTop(net, hw), xs, vcd=vcd, stall_cycles=stall_cycles,
                        backend=backend)


def simulate_top(top, xs, *, vcd=None, stall_cycles=DEFAULT_STALL_CYCLES, progress=False,
                 backend=None, platform=None):
    """Run an already built accelerator (:class:`rtl.network.NetworkTop` or
    :class:`rtl.pe_array.ArrayTop`) on the checked batch ``xs``, elaborated for ``platform``
    (see :func:`run_streams`). The stall limit is at least twice the design's
    ``quiet_cycles``."""
    net = top.net
    out = net.output_layer
    return run_streams(
        top, [StreamPort(top.i, net.input.shape, net.input.type, "i")],
        [StreamPort(top.o, out.shape, out.type, "o")], [list(xs)], len(xs),
        monitors=top.monitored_streams(), vcd=vcd,
        stall_cycles=max(stall_cycles, 2 * top.quiet_cycles),
        progress=progress, backend=backend, platform=platform)


def simulate_component(dut, inputs, in_type, out_shape, out_type, *, in_gaps=None, out_gaps=None,
                       stall_cycles=DEFAULT_STALL_CYCLES, backend=None):
    """Run a one-input, one-output stream component (``dut.i`` -> ``dut.o``) on the tensors
    ``inputs``, collecting one tensor of ``out_shape`` per input. ``in_gaps`` / ``out_gaps``:
    per tensor, per beat idle cycles of the producer / consumer (default: full rate)."""
    return run_streams(dut, [StreamPort(dut.i, np.shape(inputs[0]), in_type, "i", in_gaps)],
                       [StreamPort(dut.o, tuple(out_shape), out_type, "o", out_gaps)],
                       [list(inputs)], len(inputs), stall_cycles=stall_cycles, backend=backend)


def simulate_layer(net_or_path, layer_name, x, parallelism=None, vcd=None,
                   stall_cycles=DEFAULT_STALL_CYCLES, backend=None):
    """Run the engine of one layer alone on its input tensors.

    ``x``: a batch ``[N, ...]`` of the layer's input (the layer's input shape without N is
    accepted for one tensor); for an ``add``, a pair ``(a, b)`` of such batches.
    ``parallelism`` applies to conv2d / dense (default: the :class:`HwConfig` default).
    """
    net = _load(net_or_path)
    try:
        layer = net.layer(layer_name)
    except KeyError:
        raise TailorError(f"{net.source}: no layer named '{layer_name}'") from None
    engine = build_engine(net, layer, parallelism)
    names = op_of(layer).ports
    in_ports = [StreamPort(getattr(engine, name), net.shape_of(src), net.type_of(src),
                           f"{layer.name}.{name}") for name, src in zip(names, layer.inputs)]
    out_port = StreamPort(engine.o, layer.shape, layer.type, f"{layer.name}.o")
    feeds = x if len(names) > 1 else (x,)
    batches = []
    for port, feed in zip(in_ports, feeds):
        feed = np.asarray(feed)
        if feed.shape == tuple(port.shape):
            feed = feed[None]
        if feed.shape[1:] != tuple(port.shape):
            raise TailorError(f"layer '{layer_name}': input {port.name} must have shape "
                              f"[N, {', '.join(map(str, port.shape))}], not {list(feed.shape)}")
        batches.append(list(feed))
    if len({len(b) for b in batches}) != 1:
        raise TailorError(f"layer '{layer_name}': both inputs need the same batch size")
    return run_streams(engine, in_ports, [out_port], batches, len(batches[0]), vcd=vcd,
                       stall_cycles=stall_cycles, backend=backend)
