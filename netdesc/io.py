"""Read and write netdesc files: ``NET.json`` plus an optional companion ``NET.npz``."""

import json
from pathlib import Path

import numpy as np

from common.io import atomic_paths, read_json, serialized

from .arrays import read_npz
from .errors import NetdescError
from .validate import parse


def load(path):
    """Load and validate ``path``; a broken file raises :class:`NetdescError`."""
    path = Path(path)
    obj = read_json(path, lambda rule: NetdescError(path, rule))
    npz_path = path.with_suffix(".npz")
    tensors = read_npz(npz_path) if npz_path.exists() else None
    return parse(obj, source=path, tensors=tensors)


def to_json_obj(net, tensors=None):
    """The JSON object for ``net``. With a ``tensors`` dict, weights and biases go into it by
    name (``<layer>.w`` / ``<layer>.b``) instead of inline."""

    def tensor(arr, key):
        if tensors is None:
            return arr.tolist()
        tensors[key] = arr
        return key

    layers = []
    for l in net.layers:
        d = {"name": l.name, "op": l.op}
        if l.op == "add":
            d.update(inputs=list(l.inputs), shifts_in=list(l.shifts_in))
        else:
            d["input"] = l.inputs[0]
        if l.op == "conv2d":
            d.update(out_channels=l.shape[0], kernel=l.kernel, stride=l.stride, padding=l.padding)
        if l.op == "dense":
            d["out_features"] = l.shape[0]
        if l.op == "maxpool2d":
            d.update(kernel=l.kernel, stride=l.stride)
        if l.has_weights:
            d.update(weights=tensor(l.weights, f"{l.name}.w"), weight_bits=l.weight_bits,
                     bias=None if l.bias is None else tensor(l.bias, f"{l.name}.b"))
        if l.op == "global_avg_pool":
            d["multiplier"] = l.multiplier
        if l.op != "maxpool2d":
            d["shift"] = l.shift
        if l.op in ("conv2d", "add", "dense"):
            d["relu"] = l.relu
        d.update(bits=l.type.bits, signed=l.type.signed, **l.extra)
        layers.append(d)
    return {"format": "netdesc", "version": 1, "name": net.name,
            "input": {"name": net.input.name, "shape": list(net.input.shape),
                      "bits": net.input.type.bits, "signed": net.input.type.signed},
            "layers": layers, "output": net.output, **net.extra}


def save(net, path, inline=False):
    """Write ``net`` to ``path`` (JSON) with its tensors in ``path.npz`` unless ``inline``:
    both files or neither (a stale ``.npz`` beside an inline netdesc is removed)."""
    path = Path(path)
    tensors = None if inline else {}
    text = json.dumps(to_json_obj(net, tensors), indent=1) + "\n"
    npz_path = path.with_suffix(".npz")
    if not tensors:
        with atomic_paths(path) as (tmp_json,):
            tmp_json.write_text(text)
        npz_path.unlink(missing_ok=True)
        return
    npz = serialized(lambda f: np.savez_compressed(f, **tensors))
    with atomic_paths(path, npz_path) as (tmp_json, tmp_npz):
        tmp_json.write_text(text)
        tmp_npz.write_bytes(npz)
