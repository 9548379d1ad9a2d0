"""The bit-exact reference executor: docs/NETDESC.md's arithmetic in numpy.

Every other implementation (the PyTorch integer model, the RTL simulation) is checked against
this one. Arithmetic is exact: each layer computes in float64 (BLAS speed) when its accumulator
range provably stays below 2^53, where float64 represents every integer exactly; in int64 when
below 2^62; and in Python integers otherwise. Each op's arithmetic is its class's
:meth:`~netdesc.ops.Op.reference`; this module runs the layers and their output stage.
"""

import numpy as np

from .arith import requantize
from .bounds import accumulator_range
from .errors import NetdescError
from .ops import op_of


def _dtype_for(net, layer):
    lo, hi = accumulator_range(net, layer)
    magnitude = max(abs(lo), abs(hi)) + (1 << max(layer.shift - 1, 0))
    if magnitude < 1 << 53:
        return np.float64
    if magnitude < 1 << 62:
        return np.int64
    return object


def check_input(net, x, source="<input>"):
    """Return ``x`` as an int64 batch ``[N, C, H, W]``; raise :class:`NetdescError` if it does not
    fit ``net``'s input (shape, integer dtype, value range)."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise NetdescError(source, f"input must be an integer array (dtype is {x.dtype})")
    shape = tuple(net.input.shape)
    if x.shape == shape:
        x = x[None]
    if x.ndim != 4 or x.shape[1:] != shape:
        raise NetdescError(source, f"input must have shape [N, {', '.join(map(str, shape))}] "
                                   f"or {list(shape)} for '{net.name}' (got {list(x.shape)})")
    if x.shape[0] == 0:
        raise NetdescError(source, f"holds no inputs (shape {list(x.shape)}): give at least one")
    t = net.input.type
    if x.size and (x.min() < t.min or x.max() > t.max):
        bad = x.min() if x.min() < t.min else x.max()
        raise NetdescError(source, f"input values must be {t} integers in [{t.min}, {t.max}] (found {bad})")
    return x.astype(np.int64)


# Elements of the largest intermediate array (a conv's im2col matrix) per batch chunk: large
# batches run chunk by chunk in bounded memory.
CHUNK_ELEMENTS = 1 << 25


def _chunk_size(net):
    per_input = [op_of(layer).work_elements(layer) for layer in net.layers]
    return max(1, CHUNK_ELEMENTS // max(per_input + [1]))


def run(net, x, all_outputs=False):
    """Execute ``net`` on ``x`` (``[N, C, H, W]`` or one ``[C, H, W]``).

    Returns the output tensor, batch first, as int64 (object only for values beyond 64 bits);
    with ``all_outputs`` a dict of every layer's output (and the input) instead.
    """
    single = np.asarray(x).ndim == 3
    xs = check_input(net, x)
    step = _chunk_size(net)
    chunks = []
    for i in range(0, len(xs), step):  # each chunk's intermediates are dropped unless asked for
        values = _run_batch(net, xs[i:i + step])
        chunks.append(values if all_outputs else {net.output: values[net.output]})
    values = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    if all_outputs:
        return {k: (v[0] if single else v) for k, v in values.items()}
    out = values[net.output]
    return out[0] if single else out


def _run_batch(net, xs):
    """Every layer's output (and the input) for the checked batch ``xs``."""
    values = {net.input.name: xs}
    for layer in net.layers:
        op = op_of(layer)
        acc = op.reference(layer, [values[n] for n in layer.inputs], _dtype_for(net, layer))
        values[layer.name] = (requantize(acc, layer.shift, layer.type, layer.relu).astype(np.int64)
                              if op.requantizes else acc)
    return values
