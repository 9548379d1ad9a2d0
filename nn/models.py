"""Quantization-aware residual networks: ResNet-8 (MLPerf Tiny), ResNet-20 (CIFAR) and a small
ResNet for the 8×8 digits, all built from :class:`nn.blocks.Block` with per-skip switches.

A model is described by a JSON-ready ``spec`` dict (architecture, input shape and type, bit
widths), kept on the model as ``model.spec`` so checkpoints can rebuild it. ``forward`` takes the
integer images (``[N, C, H, W]``, the values the accelerator receives) and returns fake-quantized
logits as floats.
"""

from torch import nn

from common.errors import TailorError

from .blocks import Block
from .quant import QT, QConvBN, QDense, QGlobalAvgPool

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
        raise TailorError(f"unknown model '{arch}' (known: {', '.join(ARCHS)})")
    for what, (wb, ab) in [("", (weight_bits, act_bits))] + sorted((layer_bits or {}).items()):
        where = f" of layer '{what}'" if what else ""
        if not 2 <= wb <= 8:
            raise TailorError(f"weight bits{where} must be 2..8 (got {wb})")
        if not 2 <= ab <= 8:
            raise TailorError(f"activation bits{where} must be 2..8 (got {ab})")
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


def layer_bits(spec, label):
    """``(weight bits, act bits)`` of the conv / dense layer ``label`` under ``spec``."""
    wb, ab = spec.get("layer_bits", {}).get(label, (spec["weight_bits"], spec["act_bits"]))
    return wb, ab


def widths(spec):
    """The channels of the stem and of each block."""
    stem, blocks = ARCHS[spec["arch"]]
    return spec.get("widths") or [stem] + [ch for ch, _ in blocks]


class ResNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = dict(spec)
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

    def forward(self, images):
        frac = self.spec["input_frac"]
        x = QT(images.to(self.stem.weight.dtype) * 2.0 ** -frac, frac, False)
        return self.dataflow(lambda layer, *a, **kw: layer(*a, **kw), x).value

    def skip_state(self):
        return [b.state() for b in self.blocks]

    def set_skip_state(self, state):
        if len(state) != len(self.blocks):
            raise ValueError(f"skip state for {len(state)} blocks, model has {len(self.blocks)}")
        for b, s in zip(self.blocks, state):
            b.set_state(s)

    def skip_code(self):
        """The blocks' skip states at a glance, e.g. ``"L L L"`` or ``"S12 - L"``."""
        return " ".join(b.code() for b in self.blocks)


def build_model(spec, skips=True):
    """A freshly initialised model; ``skips=False`` switches every skip off (the baseline that
    trains without skips from scratch)."""
    model = ResNet(spec)
    if not skips:
        for b in model.blocks:
            b.remove_skips()
    return model
