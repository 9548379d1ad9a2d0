"""What every quantization-aware network shares, built in (:class:`nn.models.ResNet`) or
captured (:class:`nn.graphnet.GraphNet`): the JSON-ready ``spec`` that rebuilds it, a
``dataflow(apply, x)`` that states its wiring once, and ``blocks``, its residuals' skip
switches (:class:`nn.blocks.SkipSwitches`).

``forward`` takes the integer images (``[N, C, H, W]``, the values the accelerator receives) and
returns fake-quantized outputs as floats.
"""

from torch import nn

from .quant import QT


class QuantNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = dict(spec)
        self.blocks = []

    def forward(self, images):
        frac = self.spec["input_frac"]
        dtype = next(self.parameters()).dtype
        x = QT(images.to(dtype) * 2.0 ** -frac, frac, False)
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
