"""Turn a parsed JSON object into a :class:`Netdesc`, checking every rule of docs/NETDESC.md.

The first broken rule raises :class:`NetdescError` naming the file, the layer and the rule.
This module checks the file's structure, the names and the order of the layers; each op's own
keys are read by its class in :mod:`netdesc.ops`.
"""

import re
import unicodedata

from common.errors import shown

from .checker import Checker, extension_keys, is_int
from .model import InputSpec, Netdesc
from .ops import OPS

TOP_KEYS = {"format", "version", "name", "input", "layers", "output"}
INPUT_KEYS = {"name", "shape", "bits", "signed"}
# The naming rule: layer and input names become HDL names (submodules, signals, hw-config
# keys), so each must be a plain identifier in Verilog, VHDL and RTLIL alike; no escaping needed.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME = 128


def is_name(v):
    """Whether ``v`` keeps the naming rule (:data:`NAME`)."""
    return isinstance(v, str) and len(v) <= MAX_NAME and NAME.fullmatch(v) is not None


class _NetChecker(Checker):
    """The checks of names, which only the file-level rules need."""

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


def parse(obj, source="<netdesc>", tensors=None):
    """Validate ``obj`` (a parsed netdesc JSON object) and return a :class:`Netdesc`.

    ``tensors`` maps the names used by string-valued ``weights`` / ``bias`` keys to arrays
    (the companion .npz), or is ``None`` when there is no companion file.
    """
    c = _NetChecker(source, tensors)
    c.keys(obj, TOP_KEYS, TOP_KEYS, "the netdesc")
    if obj["format"] != "netdesc":
        c.fail(f"'format' must be \"netdesc\" (got {shown(obj['format'])})")
    if obj["version"] != 1 or isinstance(obj["version"], bool):
        c.fail(f"'version' must be 1 (got {shown(obj['version'])})")
    name = c.title(obj, "name")

    inp = obj["input"]
    c.keys(inp, INPUT_KEYS, INPUT_KEYS, "'input'")
    shape = inp["shape"]
    if not (isinstance(shape, list) and len(shape) == 3
            and all(is_int(d) and d >= 1 for d in shape)):
        c.fail(f"input 'shape' must be [C, H, W] of positive integers (got {shown(shape)})")
    input_spec = InputSpec(c.name(inp, "name"), c.shape(tuple(shape), "input 'shape'"),
                           c.ttype(inp))

    layers_obj = obj["layers"]
    if not isinstance(layers_obj, list) or not layers_obj:
        c.fail("'layers' must be a non-empty list")
    c.layers_obj = layers_obj
    c.known[input_spec.name] = (input_spec.shape, input_spec.type)
    layers = []
    for index, lobj in enumerate(layers_obj):
        given = lobj.get("name") if isinstance(lobj, dict) else None
        c.layer = given if is_name(given) else f"#{index}"
        if not isinstance(lobj, dict):
            c.fail("a layer must be a JSON object")
        lname = c.name(lobj, "name")
        if lname in c.known:
            c.fail(f"name '{lname}' is used twice")
        op_name = lobj.get("op")
        op = OPS.get(op_name) if isinstance(op_name, str) else None  # a list is unhashable
        if op is None:
            c.fail(f"unknown op {shown(op_name)} (known: {', '.join(OPS)})")
        allowed = op.keys | {"name", "op"}
        c.keys(lobj, allowed, allowed - op.optional, f"a {op.name} layer")
        layer = op.parse(c, lobj)
        c.shape(layer.shape, "the output shape")
        c.known[lname] = (layer.shape, layer.type)
        layers.append(layer)

    c.layer = None
    output = obj["output"]
    if not isinstance(output, str) or output not in c.known or output == input_spec.name:
        c.fail(f"'output' must name a layer (got {shown(output)})")
    return Netdesc(name, input_spec, layers, output, extension_keys(obj), str(source))
