"""The PE array's cycle count, step by step, from its layer program: the analytic twin of the
controller in :mod:`rtl.pe_array` and the memory in :mod:`rtl.offchip` (the simulation tests
hold them equal, cycle for cycle).

One inference, with the input streamed at full rate and the output taken at once:

- **load**: one cycle per input word (a pixel's channel groups one after the other);
- **per step**: one cycle to read the step's record; with off-chip memory, per fetch one cycle
  for its record and the fetch itself, and one more record cycle; then for every column tile
  and pixel tile of ``P`` output pixels: per tile 2 set-up cycles (tile record, weight fold)
  and ``P`` *MAC cycles* (one output pixel each), then 4 cycles draining the MAC pipeline and
  ``P`` cycles into the output pipeline (the next set-up overlaps its last stages); 5 cycles
  for the output pipeline's last pixels; then the spill;
- **output**: per output pixel, one cycle per channel group, one to take the last group and
  one to send the beat; an output of one pixel is sent in one cycle (the output stage wrote
  the beat itself).

A transfer of ``n`` words: the memory takes a request every ``c`` cycles
(:func:`rtl.offchip.cycles_per_word`), the first as soon as both the array and the memory are
ready. A fetch ends when the last word's data arrives, ``latency`` cycles after its request; a
spill, whose first cycle reads the scratchpad, ends when its last request is taken. Since the
memory may still be busy with the previous transfer's last word, the model follows the
inference on one clock, and the steady state of back-to-back inferences is the second
inference's length.
"""

from dataclasses import dataclass, field

from .offchip import cycles_per_word

TILE_SETUP = 2  # tile record read, then the weight fold and address counters loaded
STEP_OPEN = 1  # the step record's read latency
OUTPUT_LATENCY = 7  # output pipeline: an accumulator word read to its result written
STEP_CLOSE = OUTPUT_LATENCY  # the output pipeline's last pixels
MAC_LATENCY = 4  # MAC pipeline: a MAC cycle's scratchpad read to its accumulator written
DRAIN = MAC_LATENCY  # the MAC pipeline's last pixels, before the output stage reads them
TRANSFER_RECORD = 1  # a transfer record's read latency (one more ends the fetches)
BEAT_EXTRA = 2  # per output beat: the last group's read latency, then the send


@dataclass
class StepCycles:
    """Cycles of one step: ``mac`` (MAC cycles: the array computing one output pixel),
    ``compute`` (tiles, drains and output stages), ``transfer`` (fetches, spill and their
    records) and ``total`` (everything, the step record included)."""

    layer: str
    op: str
    mac: int
    compute: int
    transfer: int = 0

    @property
    def total(self):
        return STEP_OPEN + self.transfer + self.compute + STEP_CLOSE

    @property
    def utilisation(self):
        """MAC cycles per cycle of the step."""
        return self.mac / self.total


def compute_cycles(step):
    """``(mac, compute)`` cycles of ``step``'s tiles, drains and output stages."""
    mac = compute = 0
    tiles = len(step.tiles)
    for pt in range(step.pixel_tiles):
        pixels = step.tile_pixels(pt)
        mac += step.column_tiles * tiles * pixels
        compute += step.column_tiles * (tiles * (TILE_SETUP + pixels) + DRAIN + pixels)
    return mac, compute


@dataclass
class ArrayCycles:
    """One inference on the array: ``load`` and ``output`` phases and the ``steps``
    (:class:`StepCycles`); ``latency``: first input beat to last output beat, inclusive, of
    the first inference (``SimResult.cycles_per_inference``); ``total``: cycles between the
    ends of two back-to-back inferences (``SimResult.steady_state_cycles``)."""

    load: int
    steps: list
    output: int
    latency: int
    total: int
    memory: dict = field(default_factory=dict)  # bytes_per_cycle, latency of off-chip memory

    @property
    def mac(self):
        return sum(s.mac for s in self.steps)


class _Memory:
    """The off-chip memory's clock: when it takes its next request."""

    def __init__(self, interval, latency):
        self.interval, self.latency, self.free = interval, latency, 0

    def transfer(self, now, words, fetch):
        """Cycles of a transfer starting at cycle ``now``."""
        first = max(now if fetch else now + 1, self.free)  # a spill reads its first word first
        last = first + (words - 1) * self.interval
        self.free = last + self.interval
        return (last + self.latency if fetch else last) - now + 1


def array_cycles(program, bytes_per_cycle=None, latency=None):
    """The :class:`ArrayCycles` of ``program``; with off-chip memory, ``bytes_per_cycle`` and
    ``latency`` are the memory's (:class:`rtl.offchip.OffChipMemory`)."""
    net = program.net
    inp = program.regions[net.input.name]
    out = program.regions[net.output]
    pixels_in = net.input.shape[1] * net.input.shape[2]
    load = pixels_in * inp.groups
    pixels_out = out.words // out.groups
    output = pixels_out * (out.groups + BEAT_EXTRA) if pixels_out > 1 else 1
    off_chip = program.config.memory == "off_chip"
    memory = _Memory(cycles_per_word(program, bytes_per_cycle), latency) if off_chip else None
    now = 0
    ends = []
    for _ in range(2):  # the second inference starts with the memory as the first left it
        now += load
        steps = []
        for step in program.steps:
            mac, compute = compute_cycles(step)
            s = StepCycles(step.layer, step.op, mac, compute)
            now += STEP_OPEN
            if off_chip:
                for fetch in step.fetches:
                    now += TRANSFER_RECORD
                    took = memory.transfer(now, fetch.words, True)
                    now += took
                    s.transfer += TRANSFER_RECORD + took
                now += TRANSFER_RECORD
                s.transfer += TRANSFER_RECORD
            now += compute + STEP_CLOSE
            if step.spill is not None:
                took = memory.transfer(now, step.spill.words, False)
                now += took
                s.transfer += took
            steps.append(s)
        now += output
        ends.append(now)
    return ArrayCycles(load, steps, output, latency=ends[0] - (inp.groups - 1),
                       total=ends[1] - ends[0],
                       memory={"bytes_per_cycle": bytes_per_cycle, "latency": latency}
                       if off_chip else {})
