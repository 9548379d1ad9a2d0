"""Fixtures of the RTL simulation tests: a reproducible random generator and stall patterns.

Which backend: the component tests (one engine, a few hundred cycles, hundreds of
configurations) pass ``backend="pysim"``: compiling each configuration would cost more than
simulating it. Whole networks run on the default, the compiled backend, and
``test_backends.py`` checks the two backends against each other."""

import zlib

import numpy as np
import pytest


@pytest.fixture
def rng(request):
    """A generator seeded from the test's id, so a failure reproduces."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def random_gaps(rng):
    """``random_gaps(tensors, beats)``: per tensor, per beat idle cycles, mostly 0, up to 3."""
    def gaps(tensors, beats, max_gap=3):
        return [(rng.integers(0, max_gap + 1, size=beats) * (rng.random(beats) < 0.3)).tolist()
                for _ in range(tensors)]
    return gaps
