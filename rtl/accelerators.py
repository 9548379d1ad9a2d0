"""The two architectures a netdesc becomes, by name: ``dataflow`` (one engine per layer,
:class:`rtl.network.NetworkTop`) and ``array`` (one PE array running every layer in turn,
:class:`rtl.pe_array.ArrayTop`). Both have the same stream ports ``i`` and ``o``.

The command line reads the names and defaults here without loading Amaranth, so the designs
are imported where they are built."""

ARCHITECTURES = ("dataflow", "array")
# The simulated off-chip memory of a PE array (rtl.offchip.OffChipMemory): bytes per cycle,
# and cycles from a read request to its data.
DEFAULT_BANDWIDTH = 4
DEFAULT_LATENCY = 10


def arch_argument(parser):
    """The ``--arch`` option of the commands that build an accelerator."""
    parser.add_argument("--arch", choices=ARCHITECTURES, default="dataflow",
                        help="dataflow: one engine per layer; array: one PE array running every "
                             "layer in turn, shaped by the hardware config's 'array' (default "
                             "dataflow)")


def accelerator(net, hw=None, arch="dataflow"):
    """The accelerator of ``net`` under hardware config ``hw`` (default: the defaults), as
    synthesis sees it: a PE array with off-chip memory exposes its memory port."""
    from .hwconfig import HwConfig
    from .network import NetworkTop
    from .pe_array import ArrayTop
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, not {arch!r}")
    if arch == "array":
        return ArrayTop(net, (hw or HwConfig()).array)
    return NetworkTop(net, hw)


def simulated(net, hw=None, arch="dataflow", bandwidth=DEFAULT_BANDWIDTH,
              latency=DEFAULT_LATENCY):
    """The design a simulation runs: :func:`accelerator`, with the off-chip memory model
    (``bandwidth`` bytes per cycle, ``latency`` cycles; :class:`rtl.offchip.OffChipMemory`)
    behind a PE array whose memory is off chip."""
    from .pe_array import ArraySystem
    top = accelerator(net, hw, arch)
    if arch == "array" and top.program.config.memory == "off_chip":
        return ArraySystem(top, bandwidth, latency)
    return top
