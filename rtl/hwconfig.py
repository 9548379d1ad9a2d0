"""The hardware configuration: how fast and in what memory a netdesc is built, not what it computes.

A JSON file, separate from the netdesc::

    {"format": "tailor-hw", "version": 1,
     "parallelism": {"stem": 4, "b1_conv1": 8},   # MACs per cycle of conv2d / dense layers
     "fifo_depths": {"b1_add": 40},               # skip FIFO depth in beats, per add layer
     "rate_fifo_depths": {"b2_conv1.i": 30},      # rate FIFO depth before an engine's input
     "memory_style": "auto",                      # FIFO storage: auto | block | registers
     "logic_multipliers": ["fc"],                 # MAC arrays built from adders, not DSPs
     "registered_macs": true,                     # MAC operands, products, add sums registered
     "registered_fifos": true,                    # block-RAM FIFOs end in 2 beats of registers
     "array": {"rows": 4, "cols": 2, "accumulators": 64,   # the PE array (--arch array)
               "memory": "on_chip", "skips": "fused"}}

Every key is optional. A layer missing from ``parallelism`` gets the default below; FIFOs
missing from ``fifo_depths`` / ``rate_fifo_depths`` get the depth of the FIFO-depth analysis
(:mod:`rtl.fifo_depth`). Rate FIFO keys are ``<layer>.<port>``, the engine's input port
(``op_of(layer).ports``: ``i`` of a one-input layer, ``a`` / ``b`` of an add); depth 0 means
no FIFO.

Default parallelism, the rule: every stream moves at most one beat per cycle, so no inference
takes fewer cycles than the largest tensor has pixels; and no layer gets more than ``cap``
(default :data:`DEFAULT_CAP`) MACs per cycle, so the slowest layer takes ``max(macs / cap)``
cycles. The larger of those two is the target ``T``; each conv2d / dense layer gets the smallest
parallelism that finishes its MACs in ``T`` cycles. Layers are thus balanced against the slowest
one and no MAC array is larger than the bottleneck needs.
"""

import json
from dataclasses import dataclass, field, replace

from netdesc import macs, skips
from netdesc.errors import NetdescError
from netdesc.ops import op_of
from common.errors import shown
from common.io import read_json, write_text

from .array_program import ArrayConfig
from .mac import MacBuild
from .skip_fifo import STYLES

FORMAT = "tailor-hw"
VERSION = 1
DEFAULT_CAP = 16
# A FIFO deeper than this is no design decision but a typo: it would hold 256 of ResNet-8's
# 32x32 feature maps, and its memory is built (and simulated) whole.
MAX_FIFO_DEPTH = 1 << 18
KEYS = ("format", "version", "parallelism", "fifo_depths", "rate_fifo_depths", "memory_style",
        "logic_multipliers", "registered_macs", "array", "registered_fifos")


def rate_fifo_key(layer, port):
    """The ``rate_fifo_depths`` key of the FIFO before input ``port`` of the engine of
    ``layer`` (a layer name): ``<layer>.<port>``."""
    return f"{layer}.{port}"


def max_parallelism(layer):
    """The largest useful MAC parallelism of a conv2d / dense layer: its MACs per output pixel."""
    return int(layer.weights.size)


def default_target(net, cap=DEFAULT_CAP):
    """The cycle target of :meth:`HwConfig.default`: the slowest layer at ``cap`` MACs per
    cycle (or its most), or one cycle per pixel of the largest tensor."""
    weighted = [l for l in net.layers if l.has_weights]
    return max([_pixels(net.input.shape)] + [_pixels(l.shape) for l in net.layers] +
               [-(-macs(l) // min(cap, max_parallelism(l))) for l in weighted])


def _pixels(shape):
    return shape[1] * shape[2] if len(shape) == 3 else 1


@dataclass
class HwConfig:
    """Per-layer MAC parallelism, skip and rate FIFO depths (missing: from the analysis), FIFO
    memory style, the layers whose multipliers are built from logic, whether the MAC arrays
    register their operands and products (:class:`rtl.mac.MacBuild`; the adds then their sums,
    :class:`rtl.add.AddEngine`'s ``registered``) and the block-RAM FIFOs
    their outputs (:class:`rtl.skip_fifo.SkipFifo`'s ``registered``; both for a fast clock); and
    ``array``, the PE array's shape, memory and skip mode (:class:`rtl.array_program.ArrayConfig`),
    which the layer-serial architecture (``--arch array``) reads instead of everything else.

    Build one with :meth:`default` or :func:`load_hw`; :meth:`resolved` fills every layer.
    """

    parallelism: dict = field(default_factory=dict)
    fifo_depths: dict = field(default_factory=dict)
    memory_style: str = "auto"
    source: str = "<hw config>"
    rate_fifo_depths: dict = field(default_factory=dict)
    logic_multipliers: list = field(default_factory=list)
    registered_macs: bool = False
    array: ArrayConfig = field(default_factory=ArrayConfig)
    registered_fifos: bool = False

    @classmethod
    def default(cls, net, cap=DEFAULT_CAP):
        """The balanced parallelism of the module docstring for every conv2d / dense layer."""
        return cls.balanced(net, default_target(net, cap))

    @classmethod
    def balanced(cls, net, target):
        """Every conv2d / dense layer at the smallest parallelism that finishes its MACs in
        ``target`` cycles (at least 1, at most :func:`max_parallelism`)."""
        par = {}
        for l in net.layers:
            if l.has_weights:
                p = -(-macs(l) // target)  # smallest p with ceil(macs / p) <= target
                par[l.name] = max(1, min(p, max_parallelism(l)))
        return cls(parallelism=par)

    def resolved(self, net):
        """A copy with every conv2d / dense layer's parallelism set (defaults where missing)."""
        self.validate(net)
        par = dict(HwConfig.default(net).parallelism)
        par.update(self.parallelism)
        return replace(self, parallelism=par, fifo_depths=dict(self.fifo_depths),
                       rate_fifo_depths=dict(self.rate_fifo_depths),
                       logic_multipliers=list(self.logic_multipliers))

    def mac_build(self, layer):
        """How the MAC array of ``layer`` (a name) is built."""
        return MacBuild(logic_multipliers=layer in self.logic_multipliers,
                        registered=self.registered_macs)

    def validate(self, net):
        """Raise :class:`NetdescError` (naming this config's source and the layer) if a key
        names no suitable layer of ``net`` or a value is out of range."""
        add_skips = {s.add for s in skips(net)}
        for name, p in self.parallelism.items():
            layer = _layer(net, name, self.source, "parallelism")
            if not layer.has_weights:
                raise NetdescError(self.source, f"parallelism applies to conv2d and dense layers, "
                                                f"not {layer.op}", layer=name)
            hi = max_parallelism(layer)
            if not _is_int(p) or not 1 <= p <= hi:
                raise NetdescError(self.source, f"parallelism must be an integer in 1..{hi} "
                                                f"(MACs per output pixel), not {shown(p)}", layer=name)
        for name, d in self.fifo_depths.items():
            layer = _layer(net, name, self.source, "fifo_depths")
            if name not in add_skips:
                raise NetdescError(self.source, f"fifo_depths applies to add layers of skip "
                                                f"connections, not {layer.op}", layer=name)
            if not _is_int(d) or not 1 <= d <= MAX_FIFO_DEPTH:
                raise NetdescError(self.source, f"fifo depth must be an integer in "
                                                f"1..{MAX_FIFO_DEPTH:,} beats, not {shown(d)}",
                                   layer=name)
        for key, d in self.rate_fifo_depths.items():
            name, _, port = str(key).rpartition(".")
            layer = _layer(net, name, self.source, "rate_fifo_depths")
            ports = op_of(layer).ports
            if port not in ports:
                raise NetdescError(self.source, f"rate_fifo_depths key '{key}' must name port "
                                                f"{' or '.join(ports)} of the {layer.op}",
                                   layer=name)
            if not _is_int(d) or not 0 <= d <= MAX_FIFO_DEPTH:
                raise NetdescError(self.source, f"rate fifo depth must be an integer in "
                                                f"0..{MAX_FIFO_DEPTH:,} beats, not {shown(d)}",
                                   layer=name)
        for name in self.logic_multipliers:
            layer = _layer(net, name, self.source, "logic_multipliers")
            if not layer.has_weights:
                raise NetdescError(self.source, f"logic_multipliers applies to conv2d and dense "
                                                f"layers, not {layer.op}", layer=name)
        if self.memory_style not in STYLES:
            raise NetdescError(self.source, f"memory_style must be one of {', '.join(STYLES)}, "
                                            f"not {shown(self.memory_style)}")

    def to_json_obj(self):
        return {"format": FORMAT, "version": VERSION, "parallelism": dict(self.parallelism),
                "fifo_depths": dict(self.fifo_depths),
                "rate_fifo_depths": dict(self.rate_fifo_depths), "memory_style": self.memory_style,
                "logic_multipliers": list(self.logic_multipliers),
                "registered_macs": self.registered_macs,
                "registered_fifos": self.registered_fifos, "array": self.array.to_json_obj()}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _layer(net, name, source, key):
    try:
        return net.layer(name)
    except KeyError:
        raise NetdescError(source, f"{key} names a layer the netdesc '{net.name}' does not have",
                           layer=name) from None


def parse_hw(obj, net, source="<hw config>"):
    """A validated :class:`HwConfig` from a JSON object, checked against ``net``."""
    if not isinstance(obj, dict):
        raise NetdescError(source, "a hardware config must be a JSON object")
    unknown = sorted(set(obj) - set(KEYS))
    if unknown:
        raise NetdescError(source, f"unknown key '{unknown[0]}' (allowed: {', '.join(KEYS)})")
    if obj.get("format", FORMAT) != FORMAT or obj.get("version", VERSION) != VERSION:
        raise NetdescError(source, f"not a {FORMAT} version {VERSION} file")
    for key in ("parallelism", "fifo_depths", "rate_fifo_depths"):
        if not isinstance(obj.get(key, {}), dict):
            raise NetdescError(source, f"'{key}' must be an object mapping layer names to integers")
    logic = obj.get("logic_multipliers", [])
    if not isinstance(logic, list) or not all(isinstance(n, str) for n in logic):
        raise NetdescError(source, "'logic_multipliers' must be a list of layer names")
    for key in ("registered_macs", "registered_fifos"):
        if not isinstance(obj.get(key, False), bool):
            raise NetdescError(source, f"'{key}' must be true or false, not {shown(obj[key])}")
    array = ArrayConfig.from_json_obj(obj.get("array", {}), source)
    hw = HwConfig(dict(obj.get("parallelism", {})), dict(obj.get("fifo_depths", {})),
                  obj.get("memory_style", "auto"), str(source),
                  dict(obj.get("rate_fifo_depths", {})), list(logic),
                  obj.get("registered_macs", False), array,
                  registered_fifos=obj.get("registered_fifos", False))
    hw.validate(net)
    return hw


def load_hw(path, net):
    """Read and validate a hardware config file against ``net``; one-line errors name the file."""
    obj = read_json(path, lambda rule: NetdescError(path, rule))
    return parse_hw(obj, net, source=path)


def load_net_and_hw(net_path, hw_path=None):
    """The netdesc at ``net_path`` and, when ``hw_path`` is given, its hardware config (else
    ``None``: the defaults); what every command that builds the accelerator reads first."""
    import netdesc
    net = netdesc.load(net_path)
    return net, (load_hw(hw_path, net) if hw_path else None)


def save_hw(hw, path):
    write_text(path, json.dumps(hw.to_json_obj(), indent=1) + "\n")
