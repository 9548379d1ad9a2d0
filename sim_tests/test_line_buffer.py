# amaranth: UnusedElaboratable=no
"""LineBuffer windows against numpy sliding windows over the padded image (zeros, or a given
pad value)."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from netdesc import TensorType
from rtl.line_buffer import LineBuffer
from rtl.sim import simulate_component


def reference_windows(x, k, s, p, pad_value=0):
    """[k, k, C, Ho, Wo]: window[u][v][i] of every output position."""
    xp = np.pad(x, ((0, 0), (p, p), (p, p)), constant_values=pad_value)
    win = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::s, ::s]  # C Ho Wo k k
    return win.transpose(3, 4, 0, 1, 2)


def run_windows(lb, xs, **gaps):
    k, c = lb.kernel, lb.channels
    shape = (k * k * c, lb.out_height, lb.out_width)
    run = simulate_component(lb, xs, lb.ttype, shape, lb.ttype, backend="pysim",
                             **gaps)
    return [y.reshape(k, k, c, lb.out_height, lb.out_width) for y in run.outputs], run


CASES = [
    # kernel, stride, padding, channels, height, width
    (3, 1, 1, 2, 5, 7),
    (3, 2, 1, 1, 5, 7),
    (3, 2, 1, 2, 6, 6),
    (3, 1, 0, 2, 4, 5),
    (3, 2, 2, 1, 5, 6),
    (1, 1, 0, 2, 3, 4),
    (1, 2, 0, 1, 5, 5),
    (2, 2, 0, 2, 4, 6),
    (2, 2, 0, 1, 5, 5),
    (5, 1, 2, 1, 4, 4),
    (3, 1, 2, 1, 3, 3),
    (2, 2, 1, 1, 1, 1),  # one column per row: the RAM read hits the address being written
    (3, 1, 1, 1, 1, 6),
]


@pytest.mark.parametrize("k, s, p, c, h, w", CASES)
def test_windows_match_reference(k, s, p, c, h, w, rng):
    t = TensorType(4, True)
    lb = LineBuffer(t, c, h, w, k, s, p)
    xs = [rng.integers(t.min, t.max + 1, size=(c, h, w)) for _ in range(2)]  # two tensors back to back
    got, _ = run_windows(lb, xs)
    for x, y in zip(xs, got):
        np.testing.assert_array_equal(y, reference_windows(x, k, s, p))


@pytest.mark.parametrize("k, s, p, c, h, w", [case for case in CASES if case[2] > 0])
def test_windows_padded_with_a_pad_value(k, s, p, c, h, w, rng):
    """Every padded position (top, left, right, bottom, and rows above the image that hold the
    previous tensor's data) reads as the pad value: here the type's minimum, as max pooling
    pads, which a leak of zeros or of stale data would not equal."""
    t = TensorType(4, True)
    lb = LineBuffer(t, c, h, w, k, s, p, pad_value=t.min)
    xs = [rng.integers(t.min + 1, t.max + 1, size=(c, h, w)) for _ in range(2)]
    got, _ = run_windows(lb, xs)
    for x, y in zip(xs, got):
        np.testing.assert_array_equal(y, reference_windows(x, k, s, p, t.min))


@pytest.mark.parametrize("k, s, p, c, h, w", [(3, 2, 1, 2, 5, 7), (3, 1, 1, 1, 4, 5)])
def test_windows_with_stalls_on_both_sides(k, s, p, c, h, w, rng, random_gaps):
    t = TensorType(3, False)
    lb = LineBuffer(t, c, h, w, k, s, p)
    xs = [rng.integers(t.min, t.max + 1, size=(c, h, w)) for _ in range(2)]
    got, _ = run_windows(lb, xs, in_gaps=random_gaps(2, h * w),
                         out_gaps=random_gaps(2, lb.out_height * lb.out_width))
    for x, y in zip(xs, got):
        np.testing.assert_array_equal(y, reference_windows(x, k, s, p))


def test_full_rate_one_step_per_cycle(rng):
    """With a consumer that never stalls, the buffer takes one beat per cycle except at
    right/bottom padding steps."""
    t = TensorType(4, False)
    lb = LineBuffer(t, 1, 4, 5, 3, 1, 1)
    xs = [rng.integers(t.min, t.max + 1, size=(1, 4, 5)) for _ in range(2)]
    _, run = run_windows(lb, xs)
    steps = lb.step_positions()
    real_edges = [n for n, (r, c) in enumerate(steps) if lb.is_real(r, c)]
    expected = real_edges + [lb.steps_per_tensor + n for n in real_edges]
    assert run.input_stamps[0] == expected


@pytest.mark.parametrize("args, message", [
    ((0, 1, 0), "kernel must be at least 1, not 0"),
    ((3, 3, 1), "stride must be 1 or 2, not 3"),
    ((3, 1, 3), "padding must be in 0..2 for kernel 3, not 3"),
    ((5, 1, 0), "a 4x4 image with padding 0 is smaller than kernel 5"),
])
def test_rejects_bad_parameters(args, message):
    with pytest.raises(ValueError, match=message):
        LineBuffer(TensorType(8, False), 1, 4, 4, *args)
