"""The bit-exact reference executor: NETDESC.md's arithmetic in numpy.

Every other implementation (the PyTorch integer model, the RTL simulation) is checked against
this one. Arithmetic is exact: each layer computes in float64 (BLAS speed) when its accumulator
range provably stays below 2^53, where float64 represents every integer exactly; in int64 when
below 2^62; and in Python integers otherwise.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .arith import requantize
from .bounds import accumulator_range
from .errors import NetdescError


def _dtype_for(net, layer):
    lo, hi = accumulator_range(net, layer)
    magnitude = max(abs(lo), abs(hi)) + (1 << max(layer.shift - 1, 0))
    if magnitude < 1 << 53:
        return np.float64
    if magnitude < 1 << 62:
        return np.int64
    return object


def _exact_int(acc):
    """float64/int64/object accumulator -> int64 array, or object where values exceed int64."""
    if acc.dtype == np.float64:
        return acc.astype(np.int64)
    return acc


def _conv2d(layer, x, dtype):
    n, c, h, w = x.shape
    k, s, p = layer.kernel, layer.stride, layer.padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).astype(dtype)
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # N C Ho Wo k k
    _, ho, wo = layer.shape
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
    acc = cols @ layer.weights.reshape(layer.shape[0], -1).astype(dtype).T  # (N·Ho·Wo, O)
    if layer.bias is not None:
        acc = acc + layer.bias.astype(dtype)
    return _exact_int(acc).reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def _dense(layer, x, dtype):
    acc = x.reshape(x.shape[0], -1).astype(dtype) @ layer.weights.astype(dtype).T
    if layer.bias is not None:
        acc = acc + layer.bias.astype(dtype)
    return _exact_int(acc)


def _add(layer, a, b, dtype):
    dtype = np.int64 if dtype is np.float64 else dtype
    la, lb = layer.shifts_in
    return (a.astype(dtype) << la) + (b.astype(dtype) << lb)


def _maxpool2d(layer, x):
    k, s = layer.kernel, layer.stride
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))


def _global_avg_pool(layer, x, dtype):
    dtype = np.int64 if dtype is np.float64 else dtype
    return layer.multiplier * x.astype(dtype).sum(axis=(2, 3))


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
    per_input = [layer.shape[1] * layer.shape[2] * layer.weights[0].size
                 for layer in net.layers if layer.op == "conv2d"]
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
        ins = [values[n] for n in layer.inputs]
        dtype = _dtype_for(net, layer)
        if layer.op == "conv2d":
            acc = _conv2d(layer, ins[0], dtype)
        elif layer.op == "dense":
            acc = _dense(layer, ins[0], dtype)
        elif layer.op == "add":
            acc = _add(layer, ins[0], ins[1], dtype)
        elif layer.op == "global_avg_pool":
            acc = _global_avg_pool(layer, ins[0], dtype)
        else:  # maxpool2d: no arithmetic, output type equals the input's
            values[layer.name] = _maxpool2d(layer, ins[0])
            continue
        values[layer.name] = requantize(acc, layer.shift, layer.type, layer.relu).astype(np.int64)
    return values
