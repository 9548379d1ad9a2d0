"""Design spaces: the choices co-search makes, declared in a small JSON file, and their points.

A space file::

    {"format": "tailor-space", "version": 1, "name": "digits",
     "model": "digits-small",            # base family (nn.models.ARCHS)
     "data": "digits",                   # data set: input shape, pixel type, classes
     "target": "ecp5",                   # synthesis target: ice40 | ecp5 | xilinx
     "skips": ["keep", "shorten", "remove"],          # per block; or {"b1": [...], ...}
     "widths": {"stem": [4, 8], "b1": [4, 8], "b2": [8, 16], "b3": [8, 16]},
     "weight_bits": [4, 6, 8],           # per conv / dense layer; or {"default": [...], "fc": [8]}
     "act_bits": [4, 6, 8],              # per conv layer (the dense layer's are the logits')
     "parallelism": [1, 2, 4]}           # MACs per cycle per conv / dense layer, same forms

A list applies to every block / layer; an object names them (``default`` for the rest). A
stage missing from ``widths`` keeps the family's width. Every choice is a :class:`Decision`
with a key such as ``skip:b2``, ``width:stem``, ``wbits:b1_conv1``, ``abits:fc``... and a
:class:`Space` fixes their order, which is the order of the one-hot (or, relaxed, softmax)
encoding the evaluator and the search share. A point is ``{decision key: chosen value}``.

Parallelism above a layer's MACs per output pixel (``rtl.hwconfig.max_parallelism``) is
clipped to it when the hardware config is made.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import TailorError, one_line, shown
from common.io import read_json

FORMAT = "tailor-space"
VERSION = 1
TARGETS = ("ice40", "ecp5", "xilinx")
SKIP_CHOICES = ("keep", "shorten", "remove")
# A block's skip state (nn.blocks.Block.state) for each choice.
SKIP_STATES = {"keep": {"form": "long", "on": [True]},
               "shorten": {"form": "short", "on": [True, True]},
               "remove": {"form": "long", "on": [False]}}
KEYS = ("format", "version", "name", "model", "data", "target", "skips", "widths",
        "weight_bits", "act_bits", "parallelism")
KINDS = ("skip", "width", "wbits", "abits", "par")
BITS_RANGE = (2, 8)
MAX_PARALLELISM = 1024


@dataclass(frozen=True)
class Decision:
    """One choice: ``kind`` (one of :data:`KINDS`) for ``target`` (a block, stage or layer),
    among ``options``; ``key`` is ``<kind>:<target>``."""

    kind: str
    target: str
    options: tuple

    @property
    def key(self):
        return f"{self.kind}:{self.target}"


class Space:
    """A validated design space (build it with :func:`load_space` or :func:`parse_space`)."""

    def __init__(self, name, model, data, target, decisions, source):
        self.name, self.model, self.data, self.target = name, model, data, target
        self.decisions = list(decisions)
        self.source = source
        self.by_key = {d.key: d for d in self.decisions}

    # -- the family's structure ----------------------------------------------------------

    @property
    def blocks(self):
        from nn.models import ARCHS
        return [f"b{i}" for i in range(1, len(ARCHS[self.model][1]) + 1)]

    @property
    def layers(self):
        """Every conv / dense layer the family can have, in order (projections included)."""
        names = ["stem"]
        for b in self.blocks:
            names += [f"{b}_conv1", f"{b}_conv2", f"{b}_proj"]
        return names + ["fc"]

    def decisions_of(self, kind):
        return [d for d in self.decisions if d.kind == kind]

    @property
    def size(self):
        """The number of points."""
        return int(np.prod([len(d.options) for d in self.decisions], dtype=object))

    @property
    def encoding_size(self):
        return sum(len(d.options) for d in self.decisions)

    # -- points --------------------------------------------------------------------------

    def sample(self, rng):
        """A point drawn uniformly (``rng``: a ``numpy.random.Generator``)."""
        return {d.key: d.options[int(rng.integers(len(d.options)))] for d in self.decisions}

    def sample_distinct(self, n, seed, without=()):
        """``n`` distinct points (fewer if the space is smaller) drawn uniformly, the same for the
        same seed; decisions of the kinds in ``without`` (e.g. ``("par",)`` for architectures
        only) are left out of the points and of what makes two of them distinct."""
        rng = np.random.default_rng(seed)
        points, seen = [], set()
        for _ in range(50 * n):
            if len(points) == n:
                break
            point = {k: v for k, v in self.sample(rng).items()
                     if self.by_key[k].kind not in without}
            key = json.dumps(point, sort_keys=True)
            if key not in seen:
                seen.add(key)
                points.append(point)
        return points

    def check_point(self, point, where="point"):
        """Raise a one-line error if ``point`` is not a point of this space."""
        if not isinstance(point, dict) or set(point) != set(self.by_key):
            missing = sorted(set(self.by_key) - set(point or {}))
            extra = sorted(set(point or {}) - set(self.by_key))
            raise TailorError(f"{where}: not a point of space '{self.name}' "
                              f"(missing {missing or 'nothing'}, unknown {extra or 'nothing'})")
        for key, value in point.items():
            if value not in self.by_key[key].options:
                raise TailorError(f"{where}: {key} = {shown(value)} is not one of "
                                  f"{list(self.by_key[key].options)}")
        return point

    def indices(self, point):
        return [d.options.index(point[d.key]) for d in self.decisions]

    def point(self, indices):
        return {d.key: d.options[int(i)] for d, i in zip(self.decisions, indices)}

    def slices(self):
        """``[(decision, slice of the encoding)]`` in :attr:`decisions` order."""
        out, offset = [], 0
        for d in self.decisions:
            out.append((d, slice(offset, offset + len(d.options))))
            offset += len(d.options)
        return out

    def encode(self, point, without=()):
        """The one-hot encoding of ``point``: one block per decision, in :attr:`decisions` order;
        the blocks of decisions of the kinds in ``without`` are left zero (``point`` need not
        hold them: e.g. ``("par",)`` for an architecture whose hardware is still open)."""
        out = np.zeros(self.encoding_size, dtype=np.float32)
        for d, part in self.slices():
            if d.kind not in without:
                out[part.start + d.options.index(point[d.key])] = 1.0
        return out

    def key(self, point):
        """A canonical text of ``point`` (with the target): what identifies a design."""
        return json.dumps({"target": self.target, **{k: point[k] for k in sorted(point)}},
                          sort_keys=True, separators=(",", ":"))

    # -- what a point builds -------------------------------------------------------------

    def value(self, point, kind, target, default):
        return point.get(f"{kind}:{target}", default)

    def model_spec(self, point):
        """The :func:`nn.models.model_spec` of ``point``'s network."""
        from nn.data import INPUTS
        from nn.models import model_spec, widths
        shape, bits, frac = INPUTS[self.data]
        base = model_spec(self.model, shape, bits, frac)
        stages = ["stem"] + self.blocks
        chosen = [self.value(point, "width", s, w) for s, w in zip(stages, widths(base))]
        layer_bits = {}
        for layer in self.layers:
            wb = self.value(point, "wbits", layer, base["weight_bits"])
            ab = self.value(point, "abits", layer, base["act_bits"])
            layer_bits[layer] = [wb, ab]
        return model_spec(self.model, shape, bits, frac, widths=chosen, layer_bits=layer_bits)

    def skip_states(self, point):
        return [SKIP_STATES[self.value(point, "skip", b, "keep")] for b in self.blocks]

    def build_model(self, point):
        """An untrained :class:`nn.models.ResNet` of ``point`` with its skips set."""
        from nn.models import build_model
        model = build_model(self.model_spec(point))
        model.set_skip_state(self.skip_states(point))
        return model

    def hw_config(self, point, net):
        """The :class:`rtl.hwconfig.HwConfig` of ``point`` for its netdesc ``net``: the chosen
        MACs per cycle of every conv / dense layer ``net`` has, clipped to the layer's maximum
        (a layer without a parallelism decision gets the default rule's)."""
        from rtl.hwconfig import HwConfig, max_parallelism
        default = HwConfig.default(net).parallelism
        par = {}
        for layer in net.layers:
            if layer.has_weights:
                chosen = self.value(point, "par", layer.name, default[layer.name])
                par[layer.name] = min(chosen, max_parallelism(layer))
        return HwConfig(parallelism=par, source=f"<space {self.name}>")

    def to_json_obj(self):
        obj = {"format": FORMAT, "version": VERSION, "name": self.name, "model": self.model,
               "data": self.data, "target": self.target}
        for kind, field in (("skip", "skips"), ("width", "widths"), ("wbits", "weight_bits"),
                            ("abits", "act_bits"), ("par", "parallelism")):
            ds = self.decisions_of(kind)
            if ds:
                obj[field] = {d.target: list(d.options) for d in ds}
        return obj


def may_project(stride, widths_in, widths_out):
    """Whether a block of the space can have a 1×1 projection on its skip, given its stride and
    the width options of its input and output: :class:`nn.blocks.Block` builds one where it
    strides or its input and output widths differ."""
    widths_in, widths_out = list(widths_in), list(widths_out)
    return stride != 1 or len(widths_in) > 1 or len(widths_out) > 1 or widths_in != widths_out


def load_space(path):
    """Read and validate a space file; errors are one line naming the file and the rule."""
    return parse_space(read_json(path), source=str(path))


def parse_space(obj, source="<space>"):
    """A validated :class:`Space` from a JSON object (see the module docstring)."""
    from nn.data import INPUTS
    from nn.models import ARCHS

    def fail(rule, where=None):
        raise TailorError(one_line(f"{source}: {where + ': ' if where else ''}{rule}"))

    if not isinstance(obj, dict):
        fail("a design space must be a JSON object")
    unknown = sorted(set(obj) - set(KEYS))
    if unknown:
        fail(f"unknown key '{unknown[0]}' (allowed: {', '.join(KEYS)})")
    if obj.get("format") != FORMAT or obj.get("version") != VERSION:
        fail(f"not a {FORMAT} version {VERSION} file (\"format\": \"{FORMAT}\", "
             f"\"version\": {VERSION})")
    name = obj.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        fail("'name' must be a non-empty string")
    model = obj.get("model")
    if not isinstance(model, str) or model not in ARCHS:
        fail(f"'model' must be one of {', '.join(ARCHS)}, not {shown(model)}")
    data = obj.get("data")
    if not isinstance(data, str) or data not in INPUTS:
        fail(f"'data' must be one of {', '.join(INPUTS)}, not {shown(data)}")
    target = obj.get("target")
    if not isinstance(target, str) or target not in TARGETS:
        fail(f"'target' must be one of {', '.join(TARGETS)}, not {shown(target)}")

    n_blocks = len(ARCHS[model][1])
    blocks = [f"b{i}" for i in range(1, n_blocks + 1)]
    stages = ["stem"] + blocks
    strides = [s for _, s in ARCHS[model][1]]
    conv_layers = ["stem"] + [f"{b}_{c}" for b in blocks for c in ("conv1", "conv2", "proj")]

    def options(field, value, names, check, where):
        """``{name: options}`` for ``names`` from a list (all) or an object (named, with an
        optional ``default``); options are checked by ``check(option) -> error or None``."""
        if isinstance(value, list):
            per_name = {n: value for n in names}
        elif isinstance(value, dict):
            extra = sorted(set(value) - set(names) - {"default"})
            if extra:
                fail(f"'{field}' names '{extra[0]}', which model '{model}' does not have "
                     f"(it has {', '.join(names)})")
            per_name = {n: value[n] if n in value else value.get("default") for n in names}
            per_name = {n: v for n, v in per_name.items() if v is not None}
        else:
            fail(f"'{field}' must be a list of options or an object of {where}s to lists")
        for n, opts in per_name.items():
            if not isinstance(opts, list) or not opts:
                fail(f"'{field}' of {where} '{n}' must be a non-empty list of options")
            for o in opts:
                error = check(o)
                if error:
                    fail(f"'{field}' of {where} '{n}': {error}")
            if len(set(opts)) != len(opts):  # options are checked ints or strings: hashable
                fail(f"'{field}' of {where} '{n}' lists an option twice: {shown(opts)}")
        return per_name

    def integer_in(lo, hi):
        def check(o):
            if not isinstance(o, int) or isinstance(o, bool) or not lo <= o <= hi:
                return f"options must be integers in {lo}..{hi}, not {shown(o)}"
        return check

    def skip_choice(o):
        if not isinstance(o, str) or o not in SKIP_CHOICES:
            return f"options must be among {', '.join(SKIP_CHOICES)}, not {shown(o)}"

    decisions = []

    def add(kind, per_name, order):
        for n in order:
            if n in per_name:
                decisions.append(Decision(kind, n, tuple(per_name[n])))

    add("skip", options("skips", obj.get("skips", {}), blocks, skip_choice, "block"), blocks)
    widths = options("widths", obj.get("widths", {}), stages, integer_in(1, 1024), "stage")
    add("width", widths, stages)
    # A projection exists where a block strides or its width differs from its input's.
    fixed = dict(zip(stages, [ARCHS[model][0]] + [ch for ch, _ in ARCHS[model][1]]))
    layers = []
    for i, stage in enumerate(stages):
        if stage == "stem":
            layers.append("stem")
            continue
        before, now = widths.get(stages[i - 1], [fixed[stages[i - 1]]]), widths.get(stage, [fixed[stage]])
        layers += [f"{stage}_conv1", f"{stage}_conv2"]
        if may_project(strides[i - 1], before, now):
            layers.append(f"{stage}_proj")
    weighted = layers + ["fc"]
    unused = [n for n in conv_layers if n not in layers]
    for field in ("weight_bits", "act_bits", "parallelism"):
        if isinstance(obj.get(field), dict):
            named = sorted(set(obj[field]) & set(unused))
            if named:
                fail(f"'{field}' names '{named[0]}', a projection this space never has "
                     f"(its block neither strides nor changes width)")
    wbits = options("weight_bits", obj.get("weight_bits", {}), weighted, integer_in(*BITS_RANGE),
                    "layer")
    abits = options("act_bits", obj.get("act_bits", {}), layers + ["fc"],
                    integer_in(*BITS_RANGE), "layer")
    if "fc" in abits and isinstance(obj.get("act_bits"), dict) and "fc" in obj["act_bits"]:
        fail("'act_bits' of layer 'fc': the dense layer's output is the logits, whose width "
             "is fixed (16 bits)")
    abits.pop("fc", None)
    par = options("parallelism", obj.get("parallelism", {}), weighted,
                  integer_in(1, MAX_PARALLELISM), "layer")
    for layer in weighted:
        add("wbits", wbits, [layer])
        add("abits", abits, [layer])
    add("par", par, weighted)
    if not decisions:
        fail("the space has no choices (give at least one of skips, widths, weight_bits, "
             "act_bits, parallelism)")
    return Space(name, model, data, target, decisions, source)
