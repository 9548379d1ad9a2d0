"""The residual basic block and its skip switches: the one place that knows how skips rewire it.

A block has two 3×3 convs (the first may stride), a 1×1 projection where the shape changes,
and one of two forms:

- ``long`` (the usual basic block): ``y = ReLU(conv2(ReLU(conv1(x))) + proj(x))`` with one
  switch; with the skip off, ``y = ReLU(conv2(ReLU(conv1(x))))`` and the add disappears.
- ``short`` (the Tailor SkipShortener's form): ``h = ReLU(conv1(x)) + proj(x)``,
  ``y = ReLU(conv2(h)) + h``, one switch per add; a skip switched off leaves just the ReLU'd conv.

:meth:`Block.dataflow` states the wiring once. Training runs it with the layers' ``forward``;
export runs it with their ``export`` (see :mod:`nn.export`), so an exported removed skip is no
add layer at all and a shortened block is two adds that each span one conv.
"""

from torch import nn

from .quant import QAdd, QConvBN

FORMS = ("long", "short")


class Block(nn.Module):
    def __init__(self, label, cin, cout, stride, bits):
        """``bits(layer name)``: ``(weight bits, act bits)`` of each conv; an add takes the act
        bits of the conv it follows on the main path."""
        super().__init__()
        self.label = label
        self.conv1 = QConvBN(f"{label}_conv1", cin, cout, 3, stride, *bits(f"{label}_conv1"))
        self.conv2 = QConvBN(f"{label}_conv2", cout, cout, 3, 1, *bits(f"{label}_conv2"))
        self.proj = (QConvBN(f"{label}_proj", cin, cout, 1, stride, *bits(f"{label}_proj"))
                     if stride != 1 or cin != cout else None)
        self.add = QAdd(f"{label}_add", self.conv2.act.bits)  # the long form's add
        self.add1 = QAdd(f"{label}_add1", self.conv1.act.bits)  # the short form's add around conv1
        self.add2 = QAdd(f"{label}_add2", self.conv2.act.bits)  # ... and around conv2
        self.out_bits = self.conv2.act.bits  # every form's output has conv2's act bits
        self.form = "long"
        self.skips_on = [True]

    # -- the skip switches -------------------------------------------------------------------

    def state(self):
        """``{"form": "long"|"short", "on": [bool, ...]}`` (one switch per skip of the form)."""
        return {"form": self.form, "on": list(self.skips_on)}

    def set_state(self, state):
        form, on = state["form"], [bool(v) for v in state["on"]]
        if form not in FORMS or len(on) != (1 if form == "long" else 2):
            raise ValueError(f"block {self.label}: bad skip state {state!r}")
        self.form, self.skips_on = form, on

    def code(self):
        """A short display form: ``L`` / ``-`` (long skip on / off), ``S12``, ``S1-``, ``S--``..."""
        if self.form == "long":
            return "L" if self.skips_on[0] else "-"
        return "S" + "".join(str(i + 1) if on else "-" for i, on in enumerate(self.skips_on))

    def remove_skips(self):
        """Switch off every skip of the block (the SkipRemover's step)."""
        self.skips_on = [False] * len(self.skips_on)

    def shorten(self):
        """Turn the long skip into two skips that each span one conv (the SkipShortener's step)."""
        if self.form != "long":
            raise ValueError(f"block {self.label} is already shortened")
        self.form, self.skips_on = "short", [True, True]

    # -- the wiring --------------------------------------------------------------------------

    def dataflow(self, apply, x):
        """The block's output for input ``x``; ``apply(layer, *inputs, relu=...)`` evaluates or
        exports one layer."""
        def bypass():
            return x if self.proj is None else apply(self.proj, x, relu=False)

        if self.form == "long":
            h = apply(self.conv1, x, relu=True)
            if not self.skips_on[0]:
                return apply(self.conv2, h, relu=True)
            return apply(self.add, apply(self.conv2, h, relu=False), bypass(), relu=True)
        h = apply(self.conv1, x, relu=True)
        if self.skips_on[0]:
            h = apply(self.add1, h, bypass(), relu=False)
        y = apply(self.conv2, h, relu=True)
        return apply(self.add2, y, h, relu=False) if self.skips_on[1] else y
