"""Quantization-aware residual networks: ResNet-8 (MLPerf Tiny), ResNet-20 (CIFAR) and a small
ResNet for the 8×8 digits, all built from :class:`nn.blocks.Block` with per-skip switches; and
users' own networks, captured (:mod:`nn.capture`) and replayed (:class:`nn.graphnet.GraphNet`).

A model is described by a JSON-ready ``spec`` dict (architecture, input shape and type, bit
widths; a captured network's graph), kept on the model as ``model.spec`` so checkpoints can
rebuild it (:func:`build_model`). :func:`make_model` makes a new one of either kind.
"""

from torch import nn

from common.errors import TailorError

from .blocks import Block
from .capture import capture, copy_weights, instantiate, is_reference
from .graphnet import GraphNet
from .network import QuantNet
from .quant import QConvBN, QDense, QGlobalAvgPool

# name: (stem channels, [(block channels, stride), ...])
ARCHS = {
    "digits-small": (8, [(8, 1), (16, 2), (16, 2)]),
    "resnet8": (16, [(16, 1), (32, 2), (64, 2)]),
    "resnet20": (16, [(16, 1)] * 3 + [(32, 2)] + [(32, 1)] * 2 + [(64, 2)] + [(64, 1)] * 2),
}


def model_spec(arch, input_shape, input_bits, input_frac, classes=10, weight_bits=8, act_bits=8,
               logit_bits=16, widths=None, layer_bits=None):
    """Validate and return a model spec. Logits are wider than activations (``logit_bits``):
    nothing downstream reads them but the argmax and the distillation loss.

    ``widths`` (optional): the channels of the stem and of each block, replacing the arch's;
    ``layer_bits`` (optional): ``{layer: [weight bits, act bits]}`` for conv / dense layers
    that differ from ``weight_bits`` / ``act_bits`` (a dense layer's act bits are
    ``logit_bits`` regardless). A block's adds take the act bits of the conv they follow.
    These two are what co-search (:mod:`cosearch`) varies.
    """
    if arch not in ARCHS:
        raise TailorError(f"unknown model '{arch}' (known: {', '.join(ARCHS)}; or your own network "
                          "as FILE.py:FUNC or package.module:FUNC)")
    _check_bits([("", (weight_bits, act_bits))] + sorted((layer_bits or {}).items()))
    spec = {"arch": arch, "input_shape": list(input_shape), "input_bits": input_bits,
            "input_frac": input_frac, "classes": classes, "weight_bits": weight_bits,
            "act_bits": act_bits, "logit_bits": logit_bits}
    if widths is not None:
        if len(widths) != 1 + len(ARCHS[arch][1]) or not all(w >= 1 for w in widths):
            raise TailorError(f"model '{arch}' takes {1 + len(ARCHS[arch][1])} positive widths "
                              f"(stem and each block), got {list(widths)}")
        spec["widths"] = [int(w) for w in widths]
    if layer_bits:
        spec["layer_bits"] = {name: [int(wb), int(ab)] for name, (wb, ab) in layer_bits.items()}
    return spec


def _check_bits(items):
    """``items``: ``[(layer or "", (weight bits, act bits)), ...]``."""
    for what, (wb, ab) in items:
        where = f" of layer '{what}'" if what else ""
        if not 2 <= wb <= 8:
            raise TailorError(f"weight bits{where} must be 2..8 (got {wb})")
        if not 2 <= ab <= 8:
            raise TailorError(f"activation bits{where} must be 2..8 (got {ab})")


def layer_bits(spec, label):
    """``(weight bits, act bits)`` of the conv / dense layer ``label`` under ``spec``."""
    wb, ab = spec.get("layer_bits", {}).get(label, (spec["weight_bits"], spec["act_bits"]))
    return wb, ab


def widths(spec):
    """The channels of the stem and of each block."""
    stem, blocks = ARCHS[spec["arch"]]
    return spec.get("widths") or [stem] + [ch for ch, _ in blocks]


class ResNet(QuantNet):
    def __init__(self, spec):
        super().__init__(spec)
        stem_ch, *channels = widths(spec)
        strides = [stride for _, stride in ARCHS[spec["arch"]][1]]
        bits = lambda label: layer_bits(spec, label)  # noqa: E731
        self.stem = QConvBN("stem", spec["input_shape"][0], stem_ch, 3, 1, *bits("stem"))
        self.blocks = nn.ModuleList()
        cin = stem_ch
        for i, (ch, stride) in enumerate(zip(channels, strides), start=1):
            self.blocks.append(Block(f"b{i}", cin, ch, stride, bits))
            cin = ch
        self.pool = QGlobalAvgPool("pool", self.blocks[-1].out_bits if self.blocks else bits("stem")[1])
        self.fc = QDense("fc", cin, spec["classes"], bits("fc")[0], spec["logit_bits"])

    def dataflow(self, apply, x):
        """The network's wiring; ``apply(layer, *inputs, **kw)`` evaluates or exports a layer."""
        x = apply(self.stem, x, relu=True)
        for block in self.blocks:
            x = block.dataflow(apply, x)
        return apply(self.fc, apply(self.pool, x), relu=False)


def build_model(spec, skips=True):
    """A freshly initialised model of ``spec`` (built in, or captured when it holds a
    ``graph``); ``skips=False`` switches every skip off (the baseline that trains without skips
    from scratch)."""
    model = GraphNet(spec) if "graph" in spec else ResNet(spec)
    if not skips:
        for b in model.blocks:
            b.remove_skips()
    return model


def captured_spec(ref, graph, input_shape, input_bits, input_frac, classes=10, weight_bits=8,
                  act_bits=8, logit_bits=16):
    """The spec of a captured network (see :mod:`nn.capture`): ``arch`` is the model reference,
    ``graph`` its captured graph; the bit widths are the network's, the output layer's
    ``logit_bits``."""
    _check_bits([("", (weight_bits, act_bits))])
    output = next(n for n in graph["nodes"] if n["name"] == graph["output"])
    if output["shape"] != [classes]:
        raise TailorError(f"model '{ref}': its output is {'x'.join(map(str, output['shape']))}, "
                          f"the data set has {classes} classes (the network must end in "
                          f"[N, {classes}] logits)")
    return {"arch": ref, "graph": graph, "input_shape": list(input_shape),
            "input_bits": input_bits, "input_frac": input_frac, "classes": classes,
            "weight_bits": weight_bits, "act_bits": act_bits, "logit_bits": logit_bits}


def make_model(model, input_shape, input_bits, input_frac, classes=10, weight_bits=8, act_bits=8,
               skips=True, init_weights=None):
    """A new model: the built-in ``model`` (a name of :data:`ARCHS`), or the user's network
    ``model`` names (``FILE.py:FUNC``, ``package.module:FUNC``), captured and starting from its
    own float weights (those of the state dict ``init_weights`` if given)."""
    if not is_reference(model):
        if init_weights is not None:
            raise TailorError("--init-weights starts a user's network (--model FILE.py:FUNC) from "
                              "its float weights; a built-in model has none")
        return build_model(model_spec(model, input_shape, input_bits, input_frac, classes,
                                      weight_bits, act_bits), skips)
    module = instantiate(model, init_weights)
    graph = capture(module, input_shape, model)
    spec = captured_spec(model, graph, input_shape, input_bits, input_frac, classes, weight_bits,
                         act_bits)
    net = build_model(spec, skips)
    copy_weights(graph, module, net)
    return net
