"""Matrix-vector arithmetic of the conv and dense engines: schedule, MAC array, pipeline.

An engine feeds *operand vectors* (a conv window, a dense input beat) into a pipeline that
multiplies them with a weight matrix held in ROM and requantizes the sums into one output beat.

Organisation (``parallelism`` P MACs per cycle, O outputs, K operands per vector): a grid of
``lanes_out`` x ``lanes_in`` multipliers (at most P). Each cycle every one of ``lanes_out``
output channels takes ``lanes_in`` operands of the vector, summed by an adder tree, so a vector
takes ``ceil(O / lanes_out) * ceil(K / lanes_in)`` cycles: output channels in ``groups``, the
operands in ``chunks``. :meth:`MacSchedule.choose` picks the grid with the fewest cycles, then
the fewest multipliers, then the most output lanes (which share one operand). With
P <= O that is usually plain output-channel parallelism (``lanes_in`` = 1); P = O * K does a
whole vector per cycle. The cycle count is at least ``ceil(O * K / P)`` and equals it whenever
P divides O, or P is a multiple of O that divides O * K.

A ROM word holds the ``lanes_out * lanes_in`` weights of one cycle. Accumulators start from
the bias plus the requantizer's rounding constant and are exactly as wide as
:func:`netdesc.accumulator_range`, shifted by that constant, demands: every partial sum is itself
a value the full sum can take (the missing terms could be zeros), so no intermediate can
overflow.
"""

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from netdesc import TensorType

from .dsp import PipelinedMultiplier
from .position_flags import PositionFlags
from .requantize import Requantizer, rounded_accumulator
from .skip_fifo import SkipFifo
from .streams import pack
from .timing_model import Block
from .weight_rom import WeightRom

__all__ = ["MacSchedule", "MacBuild", "MacArray", "MatVecPipeline", "VectorFetch",
           "PipelineModel"]

# Edges from an operand vector's acceptance to its output beat's transfer, minus the cycles the
# vector spends in the MAC array and a registered build's stages (:attr:`MacBuild.latency`):
# issue (operand select + ROM read), accumulate, requantize.
PIPELINE_STAGES = 3
# Registers an operand and a weight pass on a registered build before the multiplier (see
# :class:`MacBuild`).
OPERAND_REGISTERS = 3
# Partial sums a registered adder tree adds between two of its registers: two levels of adders.
TREE_FAN_IN = 4


@dataclass(frozen=True)
class MacBuild:
    """How a layer's MAC array is built. ``logic_multipliers``: products from adders, which
    synthesis keeps out of DSP blocks (a device's DSPs can then go to other layers).
    ``registered``: the operands and weights pass :data:`OPERAND_REGISTERS` registers, then
    the products one (two from a DSP block, see :attr:`latency`), so that neither a block
    RAM's output (the weight ROM's, the window memory's) nor a multiplier lies on the path into
    the adder tree, which is registered every two levels (:meth:`tree_registers`), and the
    requantized values pass one before the output beat's; a higher Fmax for five or six stages
    of latency (more with deep adder trees) and their flip-flops. Three operand registers because Yosys packs none of them into the ECP5's
    DP16KD: its output takes 5.8 ns to appear, and one register between it and the DSP column
    left 7 ns of routing on either side; with two, a banked ROM's multiplexer lay between them
    (in a ROM of several banks the first is each bank's, :class:`rtl.weight_rom.WeightRom`).
    On an ECP5 the last operand register and the product register are the MULT18X18D's own
    (:class:`rtl.dsp.PipelinedMultiplier`). The requantized values' register puts the
    saturation's comparators and the output register, placed by its consumer, on separate
    paths. An add layer built with it registers its sums (:class:`rtl.add.AddEngine`)."""

    logic_multipliers: bool = False
    registered: bool = False

    @property
    def pipelined_multipliers(self):
        """Whether the products come from :class:`rtl.dsp.PipelinedMultiplier` (registered
        DSP multipliers), which holds the last operand register and the product register."""
        return self.registered and not self.logic_multipliers

    @property
    def fabric_operand_registers(self):
        """The registers an operand or weight passes in the fabric: :data:`OPERAND_REGISTERS`
        on a registered build, one of them in the DSP block with
        :attr:`pipelined_multipliers`."""
        return OPERAND_REGISTERS * self.registered - self.pipelined_multipliers

    @property
    def latency(self):
        """The MAC array's registered stages: operands and weights; products (with
        :attr:`pipelined_multipliers` the DSP block's product register, then one in the fabric
        beside it: the route from the ECP5's DSP column into the adders was 6 ns of a 10.4 ns
        path)."""
        return (OPERAND_REGISTERS + 1) * self.registered + self.pipelined_multipliers

    def array_latency(self, products):
        """The registered stages of a MAC array of ``products`` products per output:
        :attr:`latency` and its adder tree's :meth:`tree_registers`."""
        return self.latency + self.tree_registers(products)

    def pipeline_latency(self, products):
        """Edges from an operand vector's last MAC cycle to its output beat's transfer through
        a MAC array of ``products`` products per output: the pipeline's stages, the array's
        registers and the requantized values' register."""
        return PIPELINE_STAGES + self.array_latency(products) + self.registered

    def tree_registers(self, products):
        """The registers in the adder tree of ``products`` products per output: on a registered
        build one after every two levels of adders, so that the cycle which closes the
        accumulator's loop adds at most four partial sums to it (the demo's 16-product trees
        with the accumulator were ten logic levels of carry chains on the ECP5)."""
        registers = 0
        while self.registered and products > TREE_FAN_IN:
            products, registers = -(-products // TREE_FAN_IN), registers + 1
        return registers


@dataclass(frozen=True)
class MacSchedule:
    """How ``parallelism`` MACs per cycle cover O outputs x K operands (see module docstring).

    ``lanes_out`` x ``lanes_in`` multipliers; ``groups`` output-channel groups of ``lanes_out``;
    ``chunks`` operand chunks of ``lanes_in``; ``cycles`` = groups x chunks per operand vector.
    """

    outputs: int
    operands: int
    parallelism: int
    lanes_out: int
    lanes_in: int

    @classmethod
    def choose(cls, outputs, operands, parallelism):
        """The grid for O=``outputs``, K=``operands``; ``ValueError`` for a ``parallelism``
        outside 1..O*K."""
        full = outputs * operands
        if not isinstance(parallelism, int) or not 1 <= parallelism <= full:
            raise ValueError(f"parallelism must be an integer in 1..{full} "
                             f"({outputs} outputs x {operands} MACs each), not {parallelism!r}")
        best = None
        for lanes_out in range(1, min(parallelism, outputs) + 1):
            lanes_in = min(parallelism // lanes_out, operands)
            # Same cycle count with the fewest multipliers: spread groups and chunks evenly.
            groups = -(-outputs // lanes_out)
            chunks = -(-operands // lanes_in)
            lanes_out, lanes_in = -(-outputs // groups), -(-operands // chunks)
            key = (groups * chunks, lanes_out * lanes_in, -lanes_out)
            if best is None or key < best[0]:
                best = key, lanes_out, lanes_in
        return cls(outputs, operands, parallelism, best[1], best[2])

    @property
    def groups(self):
        return -(-self.outputs // self.lanes_out)

    @property
    def chunks(self):
        return -(-self.operands // self.lanes_in)

    @property
    def cycles(self):
        return self.groups * self.chunks

    def rom_words(self, matrices, weight_bits):
        """Packed ROM words for ``matrices`` ``[B, O, K]`` (one matrix per operand vector of an
        output beat): word ``(b * groups + g) * chunks + c``, element ``a * lanes_in + j`` is the
        weight of output ``g*lanes_out + a`` and operand ``c*lanes_in + j`` (0 beyond O or K)."""
        beats = matrices.shape[0]
        po, pk = self.lanes_out, self.lanes_in
        padded = np.zeros((beats, self.groups * po, self.chunks * pk), dtype=np.int64)
        padded[:, :self.outputs, :self.operands] = matrices
        # [B, G, a, C, j] -> [B, G, C, a, j]
        words = padded.reshape(beats, self.groups, po, self.chunks, pk).transpose(0, 1, 3, 2, 4)
        wtype = TensorType(weight_bits, True)
        return [pack(w, wtype) for w in words.reshape(-1, po * pk).tolist()]


class MacArray(wiring.Component):
    """``lanes_out`` x ``lanes_in`` multipliers and ``lanes_out`` accumulators, one bank per
    output group when ``banks`` (a dense layer accumulating over several operand vectors), else
    one.

    A word (operands ``x``, weights ``w``, ``first``, output ``group``, ``en``) is taken at
    every clock edge; :attr:`latency` edges later (:meth:`MacBuild.array_latency`; 0: in the
    same cycle), ``sum[a] = (bias[group][a] if first else acc[a]) +
    Σ_j w[a*lanes_in+j]*x[j]``, and at the next edge with ``en`` the sums are stored into the
    accumulators (of ``group`` with ``banks``). Nothing stalls: a word without ``en`` is a
    bubble, so no register of the array has a clock enable to fan out. Widths: ``x`` elements of
    ``operand_shape``, weights ``signed(weight_bits)``, accumulators ``signed(acc_width)``.
    ``bias``: ``[groups, lanes_out]`` integers. ``weight_registers``: of a registered build's
    operand registers, how many the weights passed before ``w`` (the output registers of a
    banked ROM, :class:`rtl.weight_rom.WeightRom`): ``w`` then arrives that many edges later
    and passes that many fewer registers here; ``operand_registers`` the same for ``x`` (the
    window memory's read register, :class:`rtl.window_memory.WindowFetch`).
    """

    def __init__(self, *, lanes_out, lanes_in, operand_shape, weight_bits, acc_width, bias,
                 banks=False, build=MacBuild(), weight_registers=0, operand_registers=0):
        fabric = build.fabric_operand_registers
        for name, registers in (("weight_registers", weight_registers),
                                ("operand_registers", operand_registers)):
            if not 0 <= registers <= fabric:
                raise ValueError(f"{name} must be in 0..{fabric}, not {registers}")
        self.lanes_out, self.lanes_in = lanes_out, lanes_in
        self.bias = np.asarray(bias, dtype=np.int64).reshape(-1, lanes_out)
        self.groups = len(self.bias)
        self.banks = banks
        self.acc_width = acc_width
        self.build = build
        self.weight_registers = weight_registers
        self.operand_registers = operand_registers
        self.tree_registers = build.tree_registers(lanes_in)
        self.latency = build.array_latency(lanes_in)
        super().__init__({
            "x": In(data.ArrayLayout(operand_shape, lanes_in)),
            "w": In(data.ArrayLayout(signed(weight_bits), lanes_out * lanes_in)),
            "first": In(1),
            "group": In(range(self.groups)),
            "en": In(1),
            "sum": Out(data.ArrayLayout(signed(acc_width), lanes_out)),
        })

    def elaborate(self, platform):
        m = Module()
        stage = int(self.build.registered)
        fabric = self.build.fabric_operand_registers
        x = delayed(m, self.x, fabric - self.operand_registers, "x")
        w = delayed(m, self.w, fabric - self.weight_registers, "w")
        first, group, en = (delayed(m, port, self.latency, name)
                            for port, name in ((self.first, "first"), (self.group, "group"),
                                               (self.en, "en")))
        acc_type = TensorType(self.acc_width, True)
        bias_words = [Const(pack(row, acc_type), self.lanes_out * self.acc_width)
                      for row in self.bias.tolist()]
        bias = data.View(data.ArrayLayout(signed(self.acc_width), self.lanes_out),
                         Array(bias_words)[group] if self.groups > 1 else bias_words[0])
        for a in range(self.lanes_out):
            products = []
            for j in range(self.lanes_in):
                if self.build.pipelined_multipliers:
                    products.append(self._dsp_product(m, w[a * self.lanes_in + j], x[j],
                                                      f"mult_{a}_{j}"))
                    continue
                product = self._product(w[a * self.lanes_in + j], x[j])
                products.append(delayed(m, product, stage, f"product_{a}_{j}"))
            banks = [Signal(signed(self.acc_width), name=f"acc_{g}_{a}")
                     for g in range(self.groups if self.banks else 1)]
            current = Array(banks)[group] if len(banks) > 1 else banks[0]
            for stage in range(self.tree_registers):
                products = [delayed(m, _adder_tree(products[n:n + TREE_FAN_IN]), 1,
                                    f"tree_{a}_{stage}_{n}")
                            for n in range(0, len(products), TREE_FAN_IN)]
            m.d.comb += self.sum[a].eq(_adder_tree([Mux(first, bias[a], current)] + products))
            for g, acc in enumerate(banks):
                with m.If(en & ((group == g) if len(banks) > 1 else 1)):
                    m.d.sync += acc.eq(self.sum[a])
        return m

    def _dsp_product(self, m, w, x, name):
        mult = m.submodules[name] = PipelinedMultiplier(w.shape(), Value.cast(x).shape())
        m.d.comb += [mult.a.eq(w), mult.b.eq(x)]
        return delayed(m, mult.p, 1, f"{name}_p")

    def _product(self, w, x):
        if not self.build.logic_multipliers:
            return w * x
        # Shift and add, so that synthesis sees no multiplication to put into a DSP block:
        # x = sum of its bits b times 2**b, the sign bit of a signed x weighing -2**(n-1).
        x = Value.cast(x)
        n = len(x)
        parts = [Mux(x[b], w << b, 0) for b in range(n)]
        if x.shape().signed:
            parts[-1] = -parts[-1]
        return _adder_tree(parts)


def delayed(m, value, stages, name):
    """``value`` through ``stages`` registers."""
    for k in range(stages):
        reg = Signal(value.shape(), name=f"{name}_d{k + 1}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


def _adder_tree(terms):
    """The sum of ``terms`` as a balanced tree of adders."""
    while len(terms) > 1:
        pairs = [x + y for x, y in zip(terms[0::2], terms[1::2])]
        terms = pairs + terms[len(pairs) * 2:]
    return terms[0]


class MatVecPipeline:
    """Elaborates the shared arithmetic of an engine into the engine's own module, as the
    submodules ``mac`` (:class:`MacArray`), ``weights`` (ROM) and ``requantize``.

    ``mac``: how the MAC array is built (:class:`MacBuild`).
    ``operands``: a stream of K-element vectors (``operand_type`` elements); ``beats`` vectors
    make one output beat (B > 1 for a dense layer reading a feature map); ``matrices[b]`` is the
    ``[O, K]`` weight matrix of vector ``b`` (signed ``weight_bits``), ``bias`` the ``[O]``
    bias or None. Sums are ``acc_range`` (plus the rounding constant) wide and requantized
    (``shift``, ``relu``) to ``out_type``; the output beat goes to ``out``: a stream of O
    ``out_type`` elements, or with ``grouped`` one beat per output group, its ``lanes_out``
    channels (:mod:`rtl.streams`; the lanes must divide O).

    Timing (:class:`PipelineModel`), with the output never blocked: a vector is accepted when
    the array is idle or in the last cycle of the previous vector, so vectors are taken every
    ``schedule.cycles`` cycles; the output beat of the vector accepted at edge ``e`` (the last
    of its ``beats``) is transferable at edge ``e + schedule.cycles + pipeline_latency``
    (grouped: group ``g``'s at ``e + (g + 1) * schedule.chunks + pipeline_latency``).
    Beats wait for the consumer in an output queue (submodule ``output_queue``,
    :attr:`output_queue_depth` beats); only the issue of a beat's last word waits for room in
    it, nothing behind the issue stage ever stalls.
    """

    def __init__(self, *, operand_type, matrices, weight_bits, bias, schedule, acc_range, shift,
                 out_type, relu, mac=MacBuild(), grouped=False):
        if grouped and schedule.outputs % schedule.lanes_out:
            raise ValueError(f"output groups of {schedule.lanes_out} do not divide "
                             f"{schedule.outputs} channels")
        self.operand_type = operand_type
        self.grouped = grouped
        self.mac = mac
        self.matrices = matrices
        self.weight_bits, self.bias = weight_bits, bias
        self.schedule = schedule
        self.shift, self.out_type, self.relu = shift, out_type, relu
        # The requantizer's rounding constant joins the bias (Requantizer's ``rounded``): the
        # accumulators hold the sums plus it, and no adder follows them.
        self.rounding, self.acc_width = rounded_accumulator(acc_range, shift)

    def timing_model(self, operands, out):
        """The :class:`PipelineModel` of this pipeline between the streams ``operands`` and
        ``out`` of a timing model."""
        sch = self.schedule
        return PipelineModel(operands, out, sch.cycles, self.matrices.shape[0],
                             self.pipeline_latency,
                             sch.chunks if self.grouped else sch.cycles, self.output_queue_depth)

    def elaborate_into(self, m, operands, out, fetch=None):
        """Build the pipeline into ``m`` between ``operands`` and ``out``. ``fetch`` supplies
        the operands of each issued word (default :class:`VectorFetch`: from the accepted
        stream payload)."""
        sch = self.schedule
        po, pk, groups, chunks = sch.lanes_out, sch.lanes_in, sch.groups, sch.chunks
        beats = self.matrices.shape[0]
        words = beats * groups * chunks
        otype = self.operand_type
        operand_shape = signed(otype.bits) if otype.signed else unsigned(otype.bits)

        m.submodules.weights = rom = WeightRom(
            po * pk * self.weight_bits, sch.rom_words(self.matrices, self.weight_bits),
            banked=self.mac.registered)
        bias = np.full(groups * po, self.rounding, dtype=np.int64)
        if self.bias is not None:
            bias[:sch.outputs] += self.bias
        fetch = fetch or VectorFetch()
        m.submodules.mac = mac = MacArray(
            lanes_out=po, lanes_in=pk, operand_shape=operand_shape,
            weight_bits=self.weight_bits, acc_width=self.acc_width, bias=bias.reshape(groups, po),
            banks=beats > 1, build=self.mac, weight_registers=rom.latency - 1,
            operand_registers=fetch.latency - 1)
        m.submodules.requantize = rq = Requantizer(
            self.acc_width, self.shift, self.out_type, self.relu, lanes=po, rounded=True)

        # The output queue: every beat whose last word was issued has a place in it (a credit
        # taken at that issue, returned when a beat leaves), so nothing after the issue stage
        # ever waits, and the consumer's ready reaches only the queue and the credit counter.
        depth = self.output_queue_depth
        m.submodules.output_queue = queue = SkipFifo(unsigned(len(Value.cast(out.payload))),
                                                     depth)
        m.d.comb += [out.valid.eq(queue.o.valid), Value.cast(out.payload).eq(queue.o.payload),
                     queue.o.ready.eq(out.ready)]
        credits = Signal(range(depth + 1), init=depth)

        # Issue stage: walk (beat, group, chunk) over the accepted operand vector; a beat's last
        # word waits for a credit. The counters' predicates and whether a credit is left are
        # kept in registers: the operand stream's ready is then one gate from registers (the
        # ULX3S builds' path ran from the chunk counter's comparator into the line buffer).
        busy = Signal()
        chunk = Signal(range(chunks))
        group = Signal(range(groups))
        beat = Signal(range(beats))
        chunk_is = PositionFlags(chunk, chunks - 1, first=lambda n: n == 0,
                                 last=lambda n: n == chunks - 1)
        group_is = PositionFlags(group, groups - 1, last=lambda n: n == groups - 1)
        beat_is = PositionFlags(beat, beats - 1, first=lambda n: n == 0,
                                last=lambda n: n == beats - 1)
        address = Signal(range(words))
        last_word = group_is.last & chunk_is.last
        # A group's last chunk in a beat's last vector; a beat's last word (all its groups).
        last_chunk = beat_is.last & chunk_is.last
        beat_word = last_chunk if self.grouped else last_chunk & group_is.last
        has_credit = Signal(init=1)  # credits != 0
        issue = Signal()
        m.d.comb += [issue.eq(busy & (~beat_word | has_credit)),
                     operands.ready.eq(~busy | (last_word & issue))]
        taken, returned = issue & beat_word, out.valid & out.ready
        with m.If(taken & ~returned):
            m.d.sync += [credits.eq(credits - 1), has_credit.eq(credits != 1)]
        with m.Elif(returned & ~taken):
            m.d.sync += [credits.eq(credits + 1), has_credit.eq(1)]

        m.d.comb += rom.addr.eq(address)

        issued = Signal()
        issued_first = Signal()
        issued_last = Signal()
        issued_group = Signal(range(groups))
        selected = fetch.elaborate_into(m, operands, operand_shape, sch, chunk,
                                        accept=operands.valid & operands.ready, issue=issue)
        m.d.sync += issued.eq(issue)
        with m.If(issue):
            m.d.sync += [
                issued_first.eq(beat_is.first & chunk_is.first),
                issued_last.eq(last_chunk),
                issued_group.eq(group),
                address.eq(Mux(address == words - 1, 0, address + 1)),
            ]
            with m.If(chunk_is.last):
                m.d.sync += chunk.eq(0)
                chunk_is.load(m, Const(0))
                with m.If(group_is.last):
                    next_beat = Mux(beat_is.last, 0, beat + 1)
                    m.d.sync += [group.eq(0), beat.eq(next_beat)]
                    group_is.load(m, Const(0))
                    beat_is.load(m, next_beat)
                with m.Else():
                    m.d.sync += group.eq(group + 1)
                    group_is.load(m, group + 1)
            with m.Else():
                m.d.sync += chunk.eq(chunk + 1)
                chunk_is.load(m, chunk + 1)
            with m.If(last_word):
                m.d.sync += busy.eq(operands.valid)
        with m.If(~busy):
            m.d.sync += busy.eq(operands.valid)

        # Accumulate stages (in the MAC array), then the sums of a vector's last word.
        m.d.comb += [
            mac.x.eq(selected),
            Value.cast(mac.w).eq(rom.data),
            mac.first.eq(issued_first),
            mac.group.eq(issued_group),
            mac.en.eq(issued),
        ]
        done = Signal()
        done_group = Signal(range(groups))
        final = Signal(data.ArrayLayout(signed(self.acc_width), po))
        m.d.sync += [done.eq(delayed(m, issued & issued_last, mac.latency, "last")),
                     done_group.eq(delayed(m, issued_group, mac.latency, "last_group")),
                     final.eq(mac.sum)]

        # Requantize stage (registered builds: into a register, then the next stage moves it
        # on), then into the queue: each group is a beat, or the last group completes one whose
        # other groups wait in a register.
        m.d.comb += rq.i.eq(final)
        quantized = Value.cast(rq.o)
        if self.mac.registered:
            quantized, done, done_group = (delayed(m, v, 1, name) for v, name in (
                (quantized, "quantized"), (done, "done"), (done_group, "done_group")))
        if self.grouped or groups == 1:
            m.d.comb += [queue.i.payload.eq(quantized), queue.i.valid.eq(done)]
            return
        lane_bits = po * self.out_type.bits
        assembled = Signal((groups - 1) * lane_bits)
        for g in range(groups - 1):
            with m.If(done & (done_group == g)):
                m.d.sync += assembled[g * lane_bits:(g + 1) * lane_bits].eq(quantized)
        m.d.comb += [queue.i.payload.eq(Cat(assembled, quantized)),
                     queue.i.valid.eq(done & (done_group == groups - 1))]

    @property
    def pipeline_latency(self):
        """:meth:`MacBuild.pipeline_latency` of this pipeline's MAC array."""
        return self.mac.pipeline_latency(self.schedule.lanes_in)

    @property
    def output_queue_depth(self):
        """Beats the output queue holds: as many as can have their last word issued from one
        beat's issue until its credit returns (:attr:`pipeline_latency` + 1 edges),
        so that a consumer that is always ready never holds the issue stage back."""
        sch = self.schedule
        spacing = sch.chunks if self.grouped else sch.cycles * self.matrices.shape[0]
        return -(-(self.pipeline_latency + 1) // spacing)


class VectorFetch:
    """The operands of a :class:`MatVecPipeline` taken from its operand stream: each accepted
    vector is latched (K elements), and an issued word selects its chunk's ``lanes_in``
    elements into a register."""

    latency = 1  # edges from a word's issue to its operands

    def elaborate_into(self, m, operands, operand_shape, schedule, chunk, *, accept, issue):
        """Returns the ``lanes_in`` operands of the word issued :attr:`latency` edges before.
        ``accept``: a vector is taken at this edge; ``issue``: a word is issued (``chunk``)."""
        pk, chunks = schedule.lanes_in, schedule.chunks
        vector = Signal(data.ArrayLayout(operand_shape, schedule.operands))
        selected = Signal(data.ArrayLayout(operand_shape, pk))
        with m.If(issue):
            for j in range(pk):
                options = [vector[c * pk + j] if c * pk + j < schedule.operands else Const(0)
                           for c in range(chunks)]
                m.d.sync += selected[j].eq(Array(options)[chunk] if chunks > 1 else options[0])
        with m.If(accept):
            m.d.sync += vector.eq(operands.payload)
        return selected


class PipelineModel(Block):
    """The timing of a :class:`MatVecPipeline`: operand vectors take ``cycles`` cycles (words)
    each in the MAC array; every ``beat_words``-th word (a vector's last, or each output
    group's last when grouped) of every ``beats``-th vector is a beat's last word, issued only
    with one of the output queue's ``depth`` credits; its beat enters the queue ``latency`` - 1
    edges later (issued, the MAC array's stages, done, the queue:
    :attr:`MatVecPipeline.pipeline_latency`) and leaves it, returning the credit, when taken."""

    def __init__(self, i, o, cycles, beats, latency, beat_words, depth):
        self.i, self.o, self.cycles, self.beats = i, o, cycles, beats
        self.beat_words = beat_words
        self.busy = False
        self.word = 0      # word (cycle) of the current vector being issued
        self.beat = 0      # vector index within the output beat
        self.credits = depth
        # per stage from issue to done: whether it holds a beat's last word
        self.finals = [False] * (latency - 1)
        self.queued = 0    # beats in the output queue

    def _beat_word(self):
        return (self.word + 1) % self.beat_words == 0 and self.beat == self.beats - 1

    def _issuing(self):
        return self.busy and (self.credits > 0 or not self._beat_word())

    def forward(self):
        self.o.valid = self.queued > 0

    def backward(self):
        self.i.ready = not self.busy or (self.word == self.cycles - 1 and self._issuing())

    def update(self):
        issuing = self._issuing()
        taken = issuing and self._beat_word()
        self.queued += int(self.finals[-1]) - int(self.o.fire)
        self.credits += int(self.o.fire) - int(taken)
        self.finals = [taken] + self.finals[:-1]
        if not issuing:
            self.busy = self.busy or self.i.valid
        elif self.word == self.cycles - 1:
            self.word = 0
            self.beat = (self.beat + 1) % self.beats
            self.busy = self.i.valid
        else:
            self.word += 1

    def countdown(self):
        if any(self.finals):
            return 1
        if self._issuing():  # the word counter runs on to the vector's last word or a beat's
            words = self.cycles - 1 - self.word
            if self.beat == self.beats - 1:
                words = min(words, self.beat_words - 1 - self.word % self.beat_words)
            return max(1, words)
        return None

    def advance(self, n):
        # Called with nothing moving and n <= countdown() (if any): the word counter runs on.
        if n == 1 or not self._issuing():
            self.update()
        else:
            self.word += n
