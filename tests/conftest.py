import copy
import json

import pytest


def _tiny_net():
    """A valid netdesc exercising every op, with inline tensors: 1x4x4 input."""
    return {
        "format": "netdesc", "version": 1, "name": "tiny",
        "input": {"name": "input", "shape": [1, 4, 4], "bits": 8, "signed": False},
        "layers": [
            {"name": "c1", "op": "conv2d", "input": "input", "out_channels": 2, "kernel": 3,
             "stride": 1, "padding": 1, "weights": [[[[1, -2, 3], [0, 1, 0], [-1, 0, 2]]],
                                                    [[[0, 0, 0], [0, 4, 0], [0, 0, -3]]]],
             "weight_bits": 4, "bias": [5, -7], "shift": 2, "relu": True, "bits": 8, "signed": False},
            {"name": "c2", "op": "conv2d", "input": "c1", "out_channels": 2, "kernel": 1,
             "stride": 1, "padding": 0, "weights": [[[[2]], [[-1]]], [[[1]], [[1]]]],
             "weight_bits": 3, "bias": None, "shift": 1, "relu": False, "bits": 8, "signed": True},
            {"name": "a1", "op": "add", "inputs": ["c2", "c1"], "shifts_in": [1, 0], "shift": 1,
             "relu": True, "bits": 8, "signed": False},
            {"name": "p1", "op": "maxpool2d", "input": "a1", "kernel": 2, "stride": 2,
             "bits": 8, "signed": False},
            {"name": "g1", "op": "global_avg_pool", "input": "p1", "multiplier": 3, "shift": 2,
             "bits": 8, "signed": False},
            {"name": "fc", "op": "dense", "input": "g1", "out_features": 3,
             "weights": [[1, -1], [2, 3], [-4, 0]], "weight_bits": 4, "bias": [0, 1, -1],
             "shift": 0, "relu": False, "bits": 6, "signed": True},
        ],
        "output": "fc",
    }


@pytest.fixture
def tiny_obj():
    return copy.deepcopy(_tiny_net())


@pytest.fixture
def write_net(tmp_path):
    """Write a netdesc object to tmp_path/<name>.json and return the path."""

    def write(obj, name="net"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(obj))
        return path

    return write
