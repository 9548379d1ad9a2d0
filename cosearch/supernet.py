"""The supernet: every network of a design space at once, its choices relaxed so that the task
loss and the learned hardware cost both reach the architecture parameters by gradient.

One set of logits per architecture decision of the space (skip, width, wbits, abits; the par
decisions are not searched here: the evaluator's hardware-generation net picks them from the
architecture, ``ev.hw(enc)``). Each step draws a Gumbel-softmax sample of every decision
(straight-through one-hot when ``hard``, else soft; temperature annealed by the caller) and runs
the relaxed network:

- **widths**: every conv runs at the stage's largest width; output channel ``c`` is scaled by
  the soft mask ``m_c = Σ_i p_i·[c < w_i]``;
- **bits**: weights and activations are the mixture ``Σ_j p_j · fakequant(x, bits_j)`` with a
  per-tensor power-of-two scale as the exported network's (weights: from their max; activations:
  from a running max), the straight-through rounding of :func:`nn.quant.fake_quant`. The
  supernet only ranks choices; the point it picks is rebuilt as the real :mod:`nn` model;
- **skips**: ``p_keep·long + p_shorten·short + p_remove·no skip``, the wirings of
  :mod:`nn.blocks` (long: ``ReLU(conv2(ReLU(conv1 x)) + proj x)``; short: ``h = ReLU(conv1 x) +
  proj x``, ``y = ReLU(conv2 h) + h``; removed: ``ReLU(conv2(ReLU(conv1 x)))``);
- **projections**: a stride-1 block whose input and output widths may be equal has a projection
  only when they differ (as :class:`nn.blocks.Block`); its bypass is
  ``p_same·x + (1 − p_same)·proj x`` with ``p_same = Σ_w p_in(w)·p_out(w)``.

:meth:`SuperNet.encoding` puts the samples into the space's encoding (par blocks empty) for
the evaluator; :meth:`SuperNet.point` is the argmax architecture.
"""

import torch
import torch.nn.functional as F
from torch import nn

from nn.models import ARCHS
from nn.quant import fake_quant, frac_for

from .space import may_project

ARCH_KINDS = ("skip", "width", "wbits", "abits")
RANGE_MOMENTUM = 0.1


def quantize(v, scale_max, bits, signed):
    """``v`` on the power-of-two grid of ``bits``-bit integers that reaches ``scale_max``: the
    grid the exported network will have (:func:`nn.quant.frac_for`; a grid fitted to
    ``scale_max`` exactly is up to one bit finer), so that the search trains and judges a bit
    width as it will be."""
    return fake_quant(v, frac_for(float(scale_max), bits, signed), bits, signed)


def mixture(v, scale_max, bits, probs, signed):
    """``Σ_j probs_j · quantize(v, bits_j)`` (every option is computed: with a hard sample the
    zero-weighted ones still pass the straight-through gradient to their logits)."""
    return sum(p * quantize(v, scale_max, b, signed) for b, p in zip(bits, probs))


class ActRange(nn.Module):
    """A running maximum of |values| (the activation scale), updated in training."""

    def __init__(self):
        super().__init__()
        self.register_buffer("value", torch.zeros(()))
        self.register_buffer("observed", torch.zeros((), dtype=torch.bool))

    def forward(self, v):
        if self.training:
            with torch.no_grad():
                m = v.detach().abs().max()
                if self.observed:
                    self.value.lerp_(m, RANGE_MOMENTUM)
                else:
                    self.value.copy_(m)
                    self.observed.fill_(True)
        return self.value


class SuperConv(nn.Module):
    """A conv + batch norm at the largest widths, its weights and output a mixture of bit widths
    (parameters named as :class:`nn.quant.QConvBN`'s: ``weight``, ``bn``)."""

    def __init__(self, cin, cout, kernel, stride, wbits, abits):
        super().__init__()
        self.wbits, self.abits = wbits, abits
        self.stride, self.padding = stride, kernel // 2
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")
        self.bn = nn.BatchNorm2d(cout)
        self.range = ActRange()

    def forward(self, x, pw, pa, relu):
        w = mixture(self.weight, self.weight.detach().abs().max(), self.wbits, pw, True)
        y = self.bn(F.conv2d(x, w, None, self.stride, self.padding))
        if relu:
            y = F.relu(y)
        return mixture(y, self.range(y), self.abits, pa, not relu)


class SuperNet(nn.Module):
    """The relaxed network of ``space`` (see the module docstring); ``forward(images, probs)``
    takes the integer images and ``{decision key: probabilities}`` of the architecture
    decisions (from :meth:`sample`) and returns float logits."""

    def __init__(self, space, base_bits=8):
        super().__init__()
        from nn.data import INPUTS, Dataset

        self.space = space
        self.arch_decisions = [d for d in space.decisions if d.kind in ARCH_KINDS]
        self.arch_logits = nn.ParameterList(
            [nn.Parameter(torch.zeros(len(d.options))) for d in self.arch_decisions])
        shape, _, self.input_frac = INPUTS[space.data]
        stem_ch, blocks = ARCHS[space.model]
        self.stages = ["stem"] + space.blocks
        fixed = [stem_ch] + [ch for ch, _ in blocks]
        self.strides = [s for _, s in blocks]
        self.width_options = {s: self._options("width", s, [w]) for s, w in zip(self.stages, fixed)}
        widest = {s: max(o) for s, o in self.width_options.items()}

        def conv(name, cin, cout, k, stride):
            return SuperConv(cin, cout, k, stride, self._options("wbits", name, [base_bits]),
                             self._options("abits", name, [base_bits]))

        self.layers = nn.ModuleDict()
        self.layers["stem"] = conv("stem", shape[0], widest["stem"], 3, 1)
        self.has_proj = {}
        cin = widest["stem"]
        for i, (block, stride) in enumerate(zip(space.blocks, self.strides)):
            cout = widest[block]
            self.layers[f"{block}_conv1"] = conv(f"{block}_conv1", cin, cout, 3, stride)
            self.layers[f"{block}_conv2"] = conv(f"{block}_conv2", cout, cout, 3, 1)
            before = self.width_options[self.stages[i]]
            self.has_proj[block] = may_project(stride, before, self.width_options[block])
            if self.has_proj[block]:
                self.layers[f"{block}_proj"] = conv(f"{block}_proj", cin, cout, 1, stride)
            cin = cout
        self.fc = nn.Linear(cin, Dataset.classes)
        self.fc_wbits = self._options("wbits", "fc", [base_bits])
        self.skip_options = self._options("skip", None, None)

    def _options(self, kind, target, default):
        if kind == "skip":
            return {b: self.space.by_key[f"skip:{b}"].options if f"skip:{b}" in self.space.by_key
                    else ("keep",) for b in self.space.blocks}
        d = self.space.by_key.get(f"{kind}:{target}")
        return list(d.options) if d else list(default)

    # -- the relaxed choices -------------------------------------------------------------

    def sample(self, tau, hard):
        """``{decision key: probabilities}``: a Gumbel-softmax sample of every architecture
        decision (one-hot, straight-through, if ``hard``)."""
        return {d.key: F.gumbel_softmax(logits, tau=tau, hard=hard)
                for d, logits in zip(self.arch_decisions, self.arch_logits)}

    def probabilities(self):
        return {d.key: F.softmax(logits, 0) for d, logits in zip(self.arch_decisions, self.arch_logits)}

    def encoding(self, probs):
        """The space's encoding ``[1, encoding_size]`` holding ``probs`` (par blocks zero: the
        evaluator's hardware-generation net fills them)."""
        parts = []
        for d, _ in self.space.slices():
            parts.append(probs[d.key] if d.key in probs else torch.zeros(len(d.options)))
        return torch.cat(parts)[None]

    def point(self):
        """The argmax architecture: ``{decision key: option}`` of the architecture decisions."""
        return {d.key: d.options[int(logits.argmax())]
                for d, logits in zip(self.arch_decisions, self.arch_logits)}

    def _p(self, probs, kind, target):
        key = f"{kind}:{target}"
        return probs[key] if key in probs else torch.ones(1)

    def _mask(self, probs, stage):
        """``m_c = Σ_i p_i·[c < w_i]`` over the stage's widest channels."""
        options = self.width_options[stage]
        p = self._p(probs, "width", stage)
        c = torch.arange(max(options))
        return sum(pi * (c < w).to(pi.dtype) for pi, w in zip(p, options))[None, :, None, None]

    # -- the network ---------------------------------------------------------------------

    def _conv(self, name, x, probs, relu):
        return self.layers[name](x, self._p(probs, "wbits", name), self._p(probs, "abits", name),
                                 relu)

    def forward(self, images, probs):
        x = images.float() * 2.0 ** -self.input_frac
        x = self._conv("stem", x, probs, True) * self._mask(probs, "stem")
        for i, block in enumerate(self.space.blocks):
            x = self._block(block, self.stages[i], x, probs)
        pooled = x.mean((2, 3))
        w = mixture(self.fc.weight, self.fc.weight.detach().abs().max(), self.fc_wbits,
                    self._p(probs, "wbits", "fc"), True)
        return F.linear(pooled, w, self.fc.bias)

    def _block(self, block, before, x, probs):
        m = self._mask(probs, block)
        a = self._conv(f"{block}_conv1", x, probs, True) * m
        bypass = self._bypass(block, before, x, probs, m)
        outputs = {}
        options = self.skip_options[block]
        if "keep" in options or "remove" in options:
            c2 = self._conv(f"{block}_conv2", a, probs, False) * m
            outputs["keep"] = F.relu(c2 + bypass)
            outputs["remove"] = F.relu(c2)
        if "shorten" in options:
            h = a + bypass
            outputs["shorten"] = (self._conv(f"{block}_conv2", h, probs, True) * m) + h
        p = self._p(probs, "skip", block)
        return sum(pi * outputs[o] for pi, o in zip(p, options))

    def _bypass(self, block, before, x, probs, m):
        if not self.has_proj[block]:
            return x
        proj = self._conv(f"{block}_proj", x, probs, False) * m
        i = self.space.blocks.index(block)
        if self.strides[i] != 1:
            return proj
        p_in, p_out = self._p(probs, "width", before), self._p(probs, "width", block)
        w_in, w_out = self.width_options[before], self.width_options[block]
        p_same = sum(p_in[a] * p_out[b] for a, wa in enumerate(w_in)
                     for b, wb in enumerate(w_out) if wa == wb)
        if isinstance(p_same, int):  # the widths never agree: always a projection
            return proj
        width = x.shape[1]
        same = F.pad(x, (0, 0, 0, 0, 0, m.shape[1] - width)) if m.shape[1] > width else x[:, :m.shape[1]]
        return p_same * same + (1 - p_same) * proj
