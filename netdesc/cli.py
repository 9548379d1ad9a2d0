"""``tailor check`` and ``tailor ref``: validate and summarise a netdesc, run the reference."""

import json

import numpy as np

from common.argtypes import output_file
from common.io import serialized, write_bytes
from common.table import format_table

from .arrays import read_npy
from .graph import macs, parameters, skips
from .io import load
from .reference import check_input, run


def register(sub):
    p = sub.add_parser("check", help="validate a netdesc and print its summary",
                       description="Validate NET.json (and its .npz) against docs/NETDESC.md and "
                                   "print layers, shapes, skip connections, parameters and MACs.")
    p.add_argument("net", metavar="NET.json")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("ref", help="run the bit-exact reference executor",
                       description="Run NET.json on the integer inputs in X.npy ([N, C, H, W] or "
                                   "[C, H, W]) and write the outputs (int64) to Y.npy.")
    p.add_argument("net", metavar="NET.json")
    p.add_argument("--input", required=True, metavar="X.npy")
    p.add_argument("--output", required=True, metavar="Y.npy", type=output_file)
    p.set_defaults(func=cmd_ref)


def summary(net):
    """The facts ``tailor check`` prints, as a JSON-ready dict."""
    layers = []
    for l in net.layers:
        layers.append({"name": l.name, "op": l.op, "inputs": list(l.inputs), "shape": list(l.shape),
                       "type": str(l.type), "params": parameters(l), "macs": macs(l)})
    return {
        "name": net.name, "source": net.source,
        "input": {"name": net.input.name, "shape": list(net.input.shape), "type": str(net.input.type)},
        "output": net.output, "layers": layers,
        "skips": [{"add": s.add, "fork": s.fork, "span": s.span, "bypass": list(s.bypass),
                   "main": list(s.main)} for s in skips(net)],
        "parameters": sum(l["params"] for l in layers),
        "macs_per_inference": sum(l["macs"] for l in layers),
    }


def cmd_check(args):
    net = load(args.net)
    s = summary(net)
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    print(f"{net.source}: netdesc '{s['name']}' is valid")
    print(f"input '{s['input']['name']}' {s['input']['shape']} {s['input']['type']}, "
          f"output '{s['output']}'\n")
    print(format_table(["layer", "op", "inputs", "shape", "type", "params", "MACs"],
                       [[l["name"], l["op"], ",".join(l["inputs"]), "x".join(map(str, l["shape"])),
                         l["type"], l["params"], l["macs"]] for l in s["layers"]]))
    print()
    if s["skips"]:
        print(format_table(["skip into", "forks at", "span", "bypass layers"],
                           [[k["add"], k["fork"], k["span"], ",".join(k["bypass"]) or "(identity)"]
                            for k in s["skips"]]))
    else:
        print("no skip connections")
    print(f"\nparameters: {s['parameters']:,}   MACs per inference: {s['macs_per_inference']:,}")
    return 0


def read_inputs(net, path):
    """The integer inputs in the .npy file ``path`` (``[N, C, H, W]`` or one ``[C, H, W]``),
    checked against ``net``: ``(batch, single)``, ``single`` when the file held one tensor."""
    raw = read_npy(path)
    return check_input(net, raw, source=path), raw.ndim == 3


def write_outputs(path, outputs, single):
    """Write the batch ``outputs`` as int64 .npy (just the one tensor when the inputs were
    ``single``: one input in, one output out); returns what was written."""
    y = np.asarray(outputs[0] if single else outputs, dtype=np.int64)
    write_bytes(path, serialized(lambda f: np.save(f, y)))
    return y


def cmd_ref(args):
    net = load(args.net)
    x, single = read_inputs(net, args.input)
    y = write_outputs(args.output, run(net, x), single)
    print(f"wrote {args.output}: {list(np.shape(y))} int64 from {x.shape[0]} input(s)")
    return 0
