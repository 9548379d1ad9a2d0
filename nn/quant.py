"""Quantization-aware layers with power-of-two scales, whose integer form is the netdesc's
(docs/NETDESC.md).

Every tensor between layers is a :class:`QT`: real values that lie exactly on the grid
``k · 2^-frac`` for integers ``k`` of the tensor's type (``bits``, ``signed``). A layer's
integer form follows from the fracs alone:

- conv2d / dense: weights ``w_int = round(w · 2^fw)`` (``weight_bits``, signed), the accumulator
  has frac ``fa_in + fw``, the bias is rounded to that frac, ``shift = fa_in + fw - fa_out``;
- add: both inputs are left-shifted to the larger frac ``F``, ``shift = F - fa_out``;
- global_avg_pool: ``multiplier / 2^shift`` approximates ``1 / (H·W)`` (exactly for powers of
  two), the output keeps the input's frac and type.

Rounding is half up (``floor(v + 1/2)``) with a straight-through gradient; saturation is a clamp
(zero gradient outside). Fracs are chosen from running maxima (activations) and the current
weights, never so large that a shift would be negative. Batch norm lives inside
:class:`QConvBN` and is folded into the weights and bias before they are quantized, in training
(batch statistics) as in inference (running statistics), so export needs no extra folding step.

Each layer also has ``export(net_builder, *refs, **kw)``: it appends its netdesc layer to an
:class:`nn.export.NetdescBuilder` and returns the :class:`Ref` of its output. ``forward`` and
``export`` take the same arguments, so a model's dataflow is written once (see
:mod:`nn.blocks`) and drives both.
"""

import math
from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn

# oneDNN (mkldnn) corrupted the heap in the backward pass of these networks with torch 2.13.0
# on an AMD EPYC host ("corrupted double-linked list"; before the abort, equal seeds trained to
# different weights); PyTorch's own CPU kernels are exact, and fast enough at these sizes.
torch.backends.mkldnn.enabled = False

QT = namedtuple("QT", "value frac signed")  # a fake-quantized tensor, see the module docstring
Ref = namedtuple("Ref", "name frac signed")  # the same, as a named tensor of an exported netdesc

POOL_PRECISION = 8  # extra bits of multiplier/2^shift when H·W is not a power of two
MAX_FRAC = 30  # fracs are capped so that shifts stay far below netdesc's 62


def round_half_up(x):
    """``floor(x + 1/2)`` with a straight-through gradient."""
    return x + (torch.floor(x + 0.5) - x).detach()


def int_range(bits, signed, relu=False):
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    return (max(lo, 0) if relu else lo), hi


def fake_quant(v, frac, bits, signed, relu=False):
    """``v`` rounded to the grid ``2^-frac`` and saturated to the type (ReLU'd if ``relu``)."""
    lo, hi = int_range(bits, signed, relu)
    scale = 2.0 ** frac
    return torch.clamp(round_half_up(v * scale), lo, hi) / scale


def frac_for(magnitude, bits, signed):
    """The largest frac whose grid of ``bits``-bit integers still reaches ``magnitude``."""
    if not magnitude > 0:
        return MAX_FRAC
    return min(MAX_FRAC, (bits - 1 if signed else bits) - math.ceil(math.log2(magnitude)))


class ActQuant(nn.Module):
    """Chooses an activation frac from a running maximum of the values it observes in training."""

    def __init__(self, bits, momentum=0.1):
        super().__init__()
        self.bits = bits
        self.momentum = momentum
        self.register_buffer("running_max", torch.zeros(()))
        self.register_buffer("observed", torch.zeros((), dtype=torch.bool))

    def observe(self, v, relu):
        with torch.no_grad():
            m = (v.clamp(min=0) if relu else v.abs()).max()
            if self.observed:
                self.running_max.lerp_(m.to(self.running_max.dtype), self.momentum)
            else:
                self.running_max.copy_(m)
                self.observed.fill_(True)

    def frac(self, signed, limit):
        """The output frac: from the running max, but never above ``limit`` (the input frac a
        shift can reach without becoming negative)."""
        return min(frac_for(float(self.running_max), self.bits, signed), limit)

    def quantize(self, v, limit, signed, relu):
        """``v`` as a :class:`QT` (observing it first in training)."""
        if self.training:
            self.observe(v, relu)
        frac = self.frac(signed, limit)
        return QT(fake_quant(v, frac, self.bits, signed, relu), frac, signed)


class _Weighted(nn.Module):
    """Shared by conv and dense: quantize folded weights and bias, requantize the accumulator."""

    def __init__(self, weight_bits, act_bits):
        super().__init__()
        self.weight_bits = weight_bits
        self.act = ActQuant(act_bits)

    def quantized(self, x):
        """``(w_q, b_q, fw)``: the folded weights and bias on their grids, for input ``x``."""
        w, b = self.folded(x.value)
        fw = frac_for(float(w.detach().abs().max()), self.weight_bits, signed=True)
        w_q = fake_quant(w, fw, self.weight_bits, signed=True)
        facc = x.frac + fw
        b_q = round_half_up(b * 2.0 ** facc) / 2.0 ** facc
        return w_q, b_q, fw

    def forward(self, x, relu):
        w_q, b_q, fw = self.quantized(x)
        return self.act.quantize(self.accumulate(x.value, w_q, b_q), x.frac + fw, not relu, relu)

    def _integer_layer(self, x, relu):
        """The netdesc layer keys conv2d and dense share, and the output frac."""
        with torch.no_grad():
            w_q, b_q, fw = self.quantized(QT(None, x.frac, x.signed))
        frac = self.act.frac(not relu, x.frac + fw)
        layer = {"weights": (w_q * 2.0 ** fw).round().long().numpy(), "weight_bits": self.weight_bits,
                 "bias": (b_q * 2.0 ** (x.frac + fw)).round().long().numpy(),
                 "shift": x.frac + fw - frac, "relu": relu, "bits": self.act.bits,
                 "signed": not relu}
        return layer, frac


class QConvBN(_Weighted):
    """A conv2d followed by batch norm, trained with the batch norm folded into it.

    In training the batch statistics come from an unquantized conv of the same input (and
    update the running statistics); in eval mode the running statistics are folded.
    ``padding`` defaults to ``kernel // 2``; a captured network's conv may carry its own
    ``bias`` (folded with the batch norm) or have no batch norm (``bn=False``).
    """

    def __init__(self, label, cin, cout, kernel, stride, weight_bits, act_bits, padding=None,
                 bn=True, bias=False):
        super().__init__(weight_bits, act_bits)
        self.label = label
        self.stride = stride
        self.padding = kernel // 2 if padding is None else padding
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.bn = nn.BatchNorm2d(cout) if bn else None

    def folded(self, x):
        bias = self.bias if self.bias is not None else torch.zeros_like(self.weight[:, 0, 0, 0])
        bn = self.bn
        if bn is None:
            return self.weight, bias
        if self.training:
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
            mean, var = y.mean((0, 2, 3)), y.var((0, 2, 3), unbiased=False)
            with torch.no_grad():
                n = y.numel() / y.shape[1]
                bn.running_mean.lerp_(mean, bn.momentum)
                bn.running_var.lerp_(var * n / max(n - 1, 1), bn.momentum)
        else:
            mean, var = bn.running_mean, bn.running_var
        scale = bn.weight / torch.sqrt(var + bn.eps)
        return self.weight * scale[:, None, None, None], bn.bias + (bias - mean) * scale

    def accumulate(self, x, w, b):
        return F.conv2d(x, w, b, self.stride, self.padding)

    def export(self, net, x, relu):
        layer, frac = self._integer_layer(x, relu)
        layer.update(name=self.label, op="conv2d", input=x.name, out_channels=self.weight.shape[0],
                     kernel=self.weight.shape[2], stride=self.stride, padding=self.padding)
        return net.append(layer, frac)


class QDense(_Weighted):
    """A fully connected layer (no batch norm) on the flattened input."""

    def __init__(self, label, n_in, n_out, weight_bits, act_bits, bias=True):
        super().__init__(weight_bits, act_bits)
        self.label = label
        self.linear = nn.Linear(n_in, n_out, bias=bias)

    def folded(self, x):
        weight, bias = self.linear.weight, self.linear.bias
        return weight, bias if bias is not None else torch.zeros_like(weight[:, 0])

    def accumulate(self, x, w, b):
        return F.linear(x.flatten(1), w, b)

    def export(self, net, x, relu):
        layer, frac = self._integer_layer(x, relu)
        layer.update(name=self.label, op="dense", input=x.name, out_features=self.linear.out_features)
        return net.append(layer, frac)


class QAdd(nn.Module):
    """``a + b`` requantized: inputs aligned to the larger frac, output frac from a running max."""

    def __init__(self, label, act_bits):
        super().__init__()
        self.label = label
        self.act = ActQuant(act_bits)

    def forward(self, a, b, relu):
        signed = (a.signed or b.signed) and not relu
        return self.act.quantize(a.value + b.value, max(a.frac, b.frac), signed, relu)

    def export(self, net, a, b, relu):
        top = max(a.frac, b.frac)
        signed = (a.signed or b.signed) and not relu
        frac = self.act.frac(signed, top)
        return net.append({"name": self.label, "op": "add", "inputs": [a.name, b.name],
                           "shifts_in": [top - a.frac, top - b.frac], "shift": top - frac,
                           "relu": relu, "bits": self.act.bits, "signed": signed}, frac)


def mean_multiplier(count):
    """``(multiplier, shift)`` with ``multiplier / 2^shift`` ≈ ``1 / count`` (exact for powers of two)."""
    if count & (count - 1) == 0:
        return 1, count.bit_length() - 1
    shift = (count - 1).bit_length() + POOL_PRECISION
    return round(2 ** shift / count), shift


class QGlobalAvgPool(nn.Module):
    """The mean over H×W as netdesc computes it: ``round_shift(multiplier · Σ x, shift)``; the
    output keeps the input's frac and type."""

    def __init__(self, label, bits):
        super().__init__()
        self.label = label
        self.bits = bits

    def forward(self, x):
        mult, shift = mean_multiplier(x.value.shape[2] * x.value.shape[3])
        mean = x.value.sum((2, 3)) * (mult / 2 ** shift)
        return QT(fake_quant(mean, x.frac, self.bits, x.signed), x.frac, x.signed)

    def export(self, net, x):
        _, h, w = net.shape_of(x.name)
        mult, shift = mean_multiplier(h * w)
        return net.append({"name": self.label, "op": "global_avg_pool", "input": x.name,
                           "multiplier": mult, "shift": shift, "bits": self.bits,
                           "signed": x.signed}, x.frac)


class QMaxPool(nn.Module):
    """A max pool: the maximum of values on one grid is on it, so the output keeps the input's
    frac and type and nothing is requantized."""

    def __init__(self, label, kernel, stride, padding=0):
        super().__init__()
        self.label = label
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        return QT(F.max_pool2d(x.value, self.kernel, self.stride, self.padding), x.frac, x.signed)

    def export(self, net, x):
        xtype = net.type_of(x.name)
        layer = {"name": self.label, "op": "maxpool2d", "input": x.name, "kernel": self.kernel,
                 "stride": self.stride, "bits": xtype.bits, "signed": xtype.signed}
        if self.padding:
            layer["padding"] = self.padding
        return net.append(layer, x.frac)
