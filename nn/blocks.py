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

:class:`SkipSwitches` (the state and the two Tailor steps) and :func:`short_form` (the
shortened wiring) are shared with the residuals of captured networks (:mod:`nn.graphnet`).
"""

from torch import nn

from .quant import QAdd, QConvBN

FORMS = ("long", "short")


class SkipSwitches:
    """The skip state of one residual: its form and one switch per skip of the form.

    ``can_shorten``: whether the residual has the shape the short form needs (two convs on the
    main branch); a built-in block always has.
    """

    def __init__(self, label, can_shorten=True):
        self.label = label
        self.can_shorten = can_shorten
        self.form = "long"
        self.skips_on = [True]

    def state(self):
        """``{"form": "long"|"short", "on": [bool, ...]}`` (one switch per skip of the form)."""
        return {"form": self.form, "on": list(self.skips_on)}

    def set_state(self, state):
        form, on = state["form"], [bool(v) for v in state["on"]]
        if form not in FORMS or len(on) != (1 if form == "long" else 2) or (
                form == "short" and not self.can_shorten):
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
        if not self.can_shorten:
            raise ValueError(f"block {self.label} has no two convs on its main branch to shorten")
        if self.form != "long":
            raise ValueError(f"block {self.label} is already shortened")
        self.form, self.skips_on = "short", [True, True]


def short_form(apply, conv1, conv2, add1, add2, x, bypass, skips_on):
    """The shortened residual on input ``x``: ``h = ReLU(conv1(x)) + bypass()``,
    ``y = ReLU(conv2(h)) + h``, each add present only while its switch is on."""
    h = apply(conv1, x, relu=True)
    if skips_on[0]:
        h = apply(add1, h, bypass(), relu=False)
    y = apply(conv2, h, relu=True)
    return apply(add2, y, h, relu=False) if skips_on[1] else y


class Block(nn.Module, SkipSwitches):
    def __init__(self, label, cin, cout, stride, bits):
        """``bits(layer name)``: ``(weight bits, act bits)`` of each conv; an add takes the act
        bits of the conv it follows on the main path."""
        nn.Module.__init__(self)
        SkipSwitches.__init__(self, label)
        self.conv1 = QConvBN(f"{label}_conv1", cin, cout, 3, stride, *bits(f"{label}_conv1"))
        self.conv2 = QConvBN(f"{label}_conv2", cout, cout, 3, 1, *bits(f"{label}_conv2"))
        self.proj = (QConvBN(f"{label}_proj", cin, cout, 1, stride, *bits(f"{label}_proj"))
                     if stride != 1 or cin != cout else None)
        self.add = QAdd(f"{label}_add", self.conv2.act.bits)  # the long form's add
        self.add1 = QAdd(f"{label}_add1", self.conv1.act.bits)  # the short form's add around conv1
        self.add2 = QAdd(f"{label}_add2", self.conv2.act.bits)  # ... and around conv2
        self.out_bits = self.conv2.act.bits  # every form's output has conv2's act bits

    def dataflow(self, apply, x):
        """The block's output for input ``x``; ``apply(layer, *inputs, relu=...)`` evaluates or
        exports one layer."""
        def bypass():
            return x if self.proj is None else apply(self.proj, x, relu=False)

        if self.form == "short":
            return short_form(apply, self.conv1, self.conv2, self.add1, self.add2, x, bypass,
                              self.skips_on)
        h = apply(self.conv1, x, relu=True)
        if not self.skips_on[0]:
            return apply(self.conv2, h, relu=True)
        return apply(self.add, apply(self.conv2, h, relu=False), bypass(), relu=True)
