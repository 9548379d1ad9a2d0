"""Read and write netdesc files: ``NET.json`` plus an optional companion ``NET.npz``."""

import json
from pathlib import Path

import numpy as np

from common.io import atomic_paths, read_json, serialized

from .arrays import read_npz
from .errors import NetdescError
from .ops import op_of
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

    layers = [{"name": l.name, "op": l.op, **op_of(l).json_keys(l, tensor),
               "bits": l.type.bits, "signed": l.type.signed, **l.extra} for l in net.layers]
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
