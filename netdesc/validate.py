"""Turn a parsed JSON object into a :class:`Netdesc`, checking every rule of NETDESC.md.

The first broken rule raises :class:`NetdescError` naming the file, the layer and the rule.
"""

import re
import unicodedata

import numpy as np

from common.errors import shown

from .arith import MAX_SHIFT, TensorType
from .errors import NetdescError
from .model import OPS, InputSpec, Layer, Netdesc

TOP_KEYS = {"format", "version", "name", "input", "layers", "output"}
INPUT_KEYS = {"name", "shape", "bits", "signed"}
_TYPE_KEYS = {"bits", "signed"}
OP_KEYS = {
    "conv2d": {"input", "out_channels", "kernel", "stride", "padding", "weights", "weight_bits",
               "bias", "shift", "relu"} | _TYPE_KEYS,
    "add": {"inputs", "shifts_in", "shift", "relu"} | _TYPE_KEYS,
    "maxpool2d": {"input", "kernel", "stride"} | _TYPE_KEYS,
    "global_avg_pool": {"input", "multiplier", "shift"} | _TYPE_KEYS,
    "dense": {"input", "out_features", "weights", "weight_bits", "bias", "shift",
              "relu"} | _TYPE_KEYS,
}
OPTIONAL_KEYS = {"bias", "relu", "multiplier"}
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# The naming rule: layer and input names become HDL names (submodules, signals, hw-config
# keys), so each must be a plain identifier in Verilog, VHDL and RTLIL alike; no escaping needed.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME = 128
# Implementation limits: tensors up to 2^24 elements (ResNet-50's largest has 2^19.6) and
# 65,536 along each dimension; beyond them buffers and simulations exhaust memory.
MAX_ELEMENTS = 1 << 24
MAX_DIM = 1 << 16
MAX_MULTIPLIER = 1 << 32


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def is_name(v):
    """Whether ``v`` keeps the naming rule (:data:`NAME`)."""
    return isinstance(v, str) and len(v) <= MAX_NAME and NAME.fullmatch(v) is not None


class _Checker:
    """Carries the file name and current layer so each rule is one line."""

    def __init__(self, source, tensors):
        self.source = source
        self.tensors = tensors
        self.layer = None

    def fail(self, rule):
        raise NetdescError(self.source, rule, self.layer)

    def keys(self, obj, allowed, required, what):
        if not isinstance(obj, dict):
            self.fail(f"{what} must be a JSON object")
        unknown = sorted(k for k in obj if k not in allowed and not k.startswith("x-"))
        if unknown:
            self.fail(f"unknown key '{unknown[0]}' in {what} (allowed: {', '.join(sorted(allowed))})")
        missing = sorted(k for k in required if k not in obj)
        if missing:
            self.fail(f"missing key '{missing[0]}' in {what}")

    def int_in(self, obj, key, lo, hi=None, default=None):
        v = obj.get(key, default)
        if not _is_int(v):
            self.fail(f"'{key}' must be an integer (got {shown(v)})")
        if v < lo or (hi is not None and v > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            self.fail(f"'{key}' must be {rng} (got {shown(v)})")
        return int(v)

    def boolean(self, obj, key, default=None):
        v = obj.get(key, default)
        if not isinstance(v, bool):
            self.fail(f"'{key}' must be true or false (got {shown(v)})")
        return v

    def name(self, obj, key):
        """A layer or input name: an HDL identifier (:data:`NAME`)."""
        v = obj.get(key)
        if not is_name(v):
            self.fail(f"'{key}' must be a name of letters, digits and '_', not starting with a "
                      f"digit, at most {MAX_NAME} characters (got {shown(v)})")
        return v

    def title(self, obj, key):
        """The network's name: free text on one line (it appears in file headers)."""
        v = obj.get(key)
        if not isinstance(v, str) or not v or len(v) > MAX_NAME \
                or any(unicodedata.category(ch)[0] == "C" for ch in v):
            self.fail(f"'{key}' must be a non-empty line of printable text, at most {MAX_NAME} "
                      f"characters (got {shown(v)})")
        return v

    def shape(self, shape, what):
        """A tensor shape within the implementation limits."""
        if any(d > MAX_DIM for d in shape) or np.prod(shape, dtype=object) > MAX_ELEMENTS:
            self.fail(f"{what} {list(shape)} is beyond tailor's limits: at most {MAX_DIM:,} "
                      f"along a dimension and {MAX_ELEMENTS:,} elements")
        return shape

    def ttype(self, obj):
        return TensorType(self.int_in(obj, "bits", 1, 32), self.boolean(obj, "signed"))

    def tensor(self, obj, key, shape):
        """An integer tensor of exactly ``shape``, inline or a key into the companion .npz."""
        v = obj[key]
        if isinstance(v, str):
            if self.tensors is None:
                self.fail(f"'{key}' refers to tensor '{v}' but there is no companion .npz file")
            if v not in self.tensors:
                self.fail(f"'{key}' refers to tensor '{v}', which the companion .npz file lacks")
            arr = np.asarray(self.tensors[v])
            if arr.dtype.kind not in "iu":
                self.fail(f"tensor '{v}' for '{key}' must hold integers (dtype {arr.dtype})")
            if arr.dtype == np.uint64 and arr.size and arr.max() > INT64_MAX:
                self.fail(f"tensor '{v}' for '{key}': values must fit in 64-bit signed "
                          f"integers (found {arr.max()})")
        else:
            arr = self._inline(key, v, len(shape))
        if arr.shape != tuple(shape):
            self.fail(f"'{key}' must have shape {list(shape)} (got {list(arr.shape)})")
        return arr.astype(np.int64)

    def _inline(self, key, v, ndim):
        """A rectangular nested list of ``ndim`` levels of integers, read level by level (a
        list nested deeper than any tensor is refused, not walked)."""
        level, shape = [v], []
        while level and all(isinstance(x, list) for x in level) and len(shape) < ndim:
            lengths = {len(x) for x in level}
            if len(lengths) > 1:
                break
            shape.append(lengths.pop())
            level = [e for x in level for e in x]
        if not isinstance(v, list) or len(shape) != ndim or any(isinstance(x, list) for x in level):
            self.fail(f"'{key}' must be a rectangular nested list of integers ({ndim} levels) "
                      f"or a tensor name")
        bad = [x for x in level if not _is_int(x)]
        if bad:
            self.fail(f"'{key}' must hold integers only (found {shown(bad[0])})")
        if any(not INT64_MIN <= x <= INT64_MAX for x in level):
            self.fail(f"'{key}' values must fit in 64-bit signed integers")
        return np.array(level, dtype=np.int64).reshape(shape)


def parse(obj, source="<netdesc>", tensors=None):
    """Validate ``obj`` (a parsed netdesc JSON object) and return a :class:`Netdesc`.

    ``tensors`` maps the names used by string-valued ``weights`` / ``bias`` keys to arrays
    (the companion .npz), or is ``None`` when there is no companion file.
    """
    c = _Checker(source, tensors)
    c.keys(obj, TOP_KEYS, TOP_KEYS, "the netdesc")
    if obj["format"] != "netdesc":
        c.fail(f"'format' must be \"netdesc\" (got {shown(obj['format'])})")
    if obj["version"] != 1 or isinstance(obj["version"], bool):
        c.fail(f"'version' must be 1 (got {shown(obj['version'])})")
    name = c.title(obj, "name")

    inp = obj["input"]
    c.keys(inp, INPUT_KEYS, INPUT_KEYS, "'input'")
    shape = inp["shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(d) and d >= 1 for d in shape)):
        c.fail(f"input 'shape' must be [C, H, W] of positive integers (got {shown(shape)})")
    input_spec = InputSpec(c.name(inp, "name"), c.shape(tuple(shape), "input 'shape'"),
                           c.ttype(inp))

    layers_obj = obj["layers"]
    if not isinstance(layers_obj, list) or not layers_obj:
        c.fail("'layers' must be a non-empty list")
    known = {input_spec.name: (input_spec.shape, input_spec.type)}
    layers = []
    for index, lobj in enumerate(layers_obj):
        given = lobj.get("name") if isinstance(lobj, dict) else None
        c.layer = given if is_name(given) else f"#{index}"
        if not isinstance(lobj, dict):
            c.fail("a layer must be a JSON object")
        lname = c.name(lobj, "name")
        if lname in known:
            c.fail(f"name '{lname}' is used twice")
        op = lobj.get("op")
        if op not in OPS:
            c.fail(f"unknown op {shown(op)} (known: {', '.join(OPS)})")
        allowed = OP_KEYS[op] | {"name", "op"}
        c.keys(lobj, allowed, allowed - OPTIONAL_KEYS, f"a {op} layer")
        layer = _LAYER_PARSERS[op](c, lobj, known, layers_obj)
        c.shape(layer.shape, "the output shape")
        known[lname] = (layer.shape, layer.type)
        layers.append(layer)

    c.layer = None
    output = obj["output"]
    if not isinstance(output, str) or output not in known or output == input_spec.name:
        c.fail(f"'output' must name a layer (got {shown(output)})")
    extra = {k: v for k, v in obj.items() if k.startswith("x-")}
    return Netdesc(name, input_spec, layers, output, extra, str(source))


def _source_of(c, lobj, key, known, layers_obj):
    src = lobj[key]
    if not isinstance(src, str):
        c.fail(f"'{key}' must be a layer name (got {shown(src)})")
    if src not in known:
        later = any(isinstance(l, dict) and l.get("name") == src for l in layers_obj)
        if later:
            c.fail(f"reads '{src}', which is defined later (layers must be in topological order)")
        c.fail(f"reads '{src}', which is neither the input nor an earlier layer")
    return src


def _feature_map(c, src, known):
    shape = known[src][0]
    if len(shape) != 3:
        c.fail(f"input '{src}' must be a feature map [C, H, W] (it has shape {list(shape)})")
    return shape


def _weights(c, lobj, shape, out_n):
    wbits = c.int_in(lobj, "weight_bits", 2, 16)
    w = c.tensor(lobj, "weights", shape)
    lo, hi = -(1 << (wbits - 1)), (1 << (wbits - 1)) - 1
    if w.size and (w.min() < lo or w.max() > hi):
        c.fail(f"weights must be signed {wbits}-bit integers in [{lo}, {hi}] "
               f"(found {w.min() if w.min() < lo else w.max()})")
    bias = lobj.get("bias")
    bias = None if bias is None else c.tensor(lobj, "bias", (out_n,))
    return w, wbits, bias


def _arith_common(c, lobj):
    return dict(shift=c.int_in(lobj, "shift", 0, MAX_SHIFT), relu=c.boolean(lobj, "relu", False),
                type=c.ttype(lobj), extra={k: v for k, v in lobj.items() if k.startswith("x-")})


def _conv2d(c, lobj, known, layers_obj):
    src = _source_of(c, lobj, "input", known, layers_obj)
    cin, h, w = _feature_map(c, src, known)
    cout = c.int_in(lobj, "out_channels", 1, MAX_DIM)
    k = c.int_in(lobj, "kernel", 1, MAX_DIM)
    stride = c.int_in(lobj, "stride", 1, 2)
    pad = c.int_in(lobj, "padding", 0, k - 1)
    if k > h + 2 * pad or k > w + 2 * pad:
        c.fail(f"kernel {k} is larger than the padded input {h + 2 * pad}x{w + 2 * pad}")
    weights, wbits, bias = _weights(c, lobj, (cout, cin, k, k), cout)
    shape = (cout, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
    return Layer(lobj["name"], "conv2d", (src,), shape, weights=weights, weight_bits=wbits,
                 bias=bias, kernel=k, stride=stride, padding=pad, **_arith_common(c, lobj))


def _dense(c, lobj, known, layers_obj):
    src = _source_of(c, lobj, "input", known, layers_obj)
    n = int(np.prod(known[src][0]))
    out = c.int_in(lobj, "out_features", 1, MAX_DIM)
    weights, wbits, bias = _weights(c, lobj, (out, n), out)
    return Layer(lobj["name"], "dense", (src,), (out,), weights=weights, weight_bits=wbits,
                 bias=bias, **_arith_common(c, lobj))


def _add(c, lobj, known, layers_obj):
    ins = lobj["inputs"]
    if not (isinstance(ins, list) and len(ins) == 2):
        c.fail(f"'inputs' must list exactly two layers (got {shown(ins)})")
    srcs = tuple(_source_of(c, {"inputs": s}, "inputs", known, layers_obj) for s in ins)
    sa, sb = known[srcs[0]][0], known[srcs[1]][0]
    if sa != sb:
        c.fail(f"inputs '{srcs[0]}' {list(sa)} and '{srcs[1]}' {list(sb)} differ in shape")
    shifts = lobj["shifts_in"]
    if not (isinstance(shifts, list) and len(shifts) == 2
            and all(_is_int(s) and 0 <= s <= MAX_SHIFT for s in shifts)):
        c.fail(f"'shifts_in' must be two integers in 0..{MAX_SHIFT} (got {shown(shifts)})")
    return Layer(lobj["name"], "add", srcs, sa, shifts_in=tuple(shifts), **_arith_common(c, lobj))


def _maxpool2d(c, lobj, known, layers_obj):
    src = _source_of(c, lobj, "input", known, layers_obj)
    ch, h, w = _feature_map(c, src, known)
    k = c.int_in(lobj, "kernel", 1, MAX_DIM)
    stride = c.int_in(lobj, "stride", 1, 2)  # the line buffer's strides, as for conv2d
    if k > h or k > w:
        c.fail(f"kernel {k} is larger than the input {h}x{w}")
    ttype = c.ttype(lobj)
    if ttype != known[src][1]:
        c.fail(f"bits/signed ({ttype}) must equal those of input '{src}' ({known[src][1]})")
    shape = (ch, (h - k) // stride + 1, (w - k) // stride + 1)
    return Layer(lobj["name"], "maxpool2d", (src,), shape, type=ttype, kernel=k, stride=stride,
                 extra={k_: v for k_, v in lobj.items() if k_.startswith("x-")})


def _global_avg_pool(c, lobj, known, layers_obj):
    src = _source_of(c, lobj, "input", known, layers_obj)
    ch, _, _ = _feature_map(c, src, known)
    mult = c.int_in(lobj, "multiplier", 1, MAX_MULTIPLIER, default=1)
    return Layer(lobj["name"], "global_avg_pool", (src,), (ch,), multiplier=mult,
                 **_arith_common(c, lobj))


_LAYER_PARSERS = {"conv2d": _conv2d, "add": _add, "maxpool2d": _maxpool2d,
                  "global_avg_pool": _global_avg_pool, "dense": _dense}
