"""A captured network (:mod:`nn.capture`) as a quantization-aware model: one quantized layer per
graph node, the graph replayed as the model's dataflow, and skip switches on its residuals.

A residual is an add whose two inputs run back, through single-input layers that feed nothing
else, to one fork: the branch with more convs is the main branch, the other (the fork itself or
a projection) the skip. With its skip removed, the add disappears and its ReLU moves onto the
main branch's last layer, as in :class:`nn.blocks.Block`. A residual can be shortened when its
main branch is ``ReLU(conv1)`` then ``conv2`` (shape-preserving) and the add has the ReLU: the
short form is :func:`nn.blocks.short_form`, with two adds of its own. Other adds (no conv on
either branch, equal branches, a branch through another add) keep their skip.
"""

from torch import nn

from .blocks import SkipSwitches, short_form
from .network import QuantNet
from .quant import QAdd, QConvBN, QDense, QGlobalAvgPool, QMaxPool


class Residual(SkipSwitches):
    """An add's skip switches and the wiring they choose between: ``fork``, the ``main`` and
    ``skip`` branches (layer names, fork side first) and the short form's two adds."""

    def __init__(self, add, fork, main, skip, short_adds):
        super().__init__(add, can_shorten=short_adds is not None)
        self.add, self.fork, self.main, self.skip = add, fork, main, skip
        self.short_adds = short_adds


def _branch(nodes, users, start, stop):
    """The layers from ``start`` back to the first name in ``stop`` (fork side first) and that
    name, or ``None`` where the way back meets an add, the input or a layer with other users."""
    path = []
    while start not in stop:
        node = nodes.get(start)
        if node is None or node["op"] == "add" or users[start] != 1:
            return None
        path.insert(0, start)
        start = node["input"]
    return start, path


def _ancestors(nodes, name):
    seen, todo = set(), [name]
    while todo:
        node = nodes.get(todo.pop())
        for src in (node.get("inputs") or [node["input"]]) if node else ():
            if src not in seen:
                seen.add(src)
                todo.append(src)
    return seen


def residuals(graph):
    """The graph's residuals (:class:`Residual`), in graph order."""
    nodes = {n["name"]: n for n in graph["nodes"]}
    users = {name: 0 for name in nodes}
    for n in graph["nodes"]:
        for src in n.get("inputs") or [n["input"]]:
            users[src] = users.get(src, 0) + 1
    names = set(nodes) | {"input"}
    found = []
    for add in (n for n in graph["nodes"] if n["op"] == "add"):
        a, b = add["inputs"]
        ways = [_branch(nodes, users, a, _ancestors(nodes, b) | {b}),
                _branch(nodes, users, b, _ancestors(nodes, a) | {a})]
        if None in ways or ways[0][0] != ways[1][0]:
            continue
        convs = [sum(nodes[n]["op"] == "conv" for n in path) for _, path in ways]
        if convs[0] == convs[1]:
            continue
        main, skip = (ways[0][1], ways[1][1]) if convs[0] > convs[1] else (ways[1][1], ways[0][1])
        if add["relu"] and nodes[main[-1]]["op"] not in ("conv", "dense"):
            continue  # removing the add would leave its ReLU nowhere to go
        short_adds = None
        if _shortenable(nodes, add, main, skip):
            short_adds = []
            for suffix in ("1", "2"):
                name, k = f"{add['name']}{suffix}", 1
                while name in names:
                    name, k = f"{add['name']}{suffix}_{k}", k + 1
                names.add(name)
                short_adds.append(name)
        found.append(Residual(add["name"], ways[0][0], main, skip, short_adds))
    return found


def _shortenable(nodes, add, main, skip):
    """Whether the residual is ``ReLU(add(conv2(ReLU(conv1 x)), skip x))`` with a
    shape-preserving ``conv2`` and a skip that is the fork itself or one conv."""
    if len(main) != 2 or not add["relu"] or len(skip) > 1:
        return False
    conv1, conv2 = (nodes[n] for n in main)
    return (conv1["op"] == conv2["op"] == "conv" and conv1["relu"] and not conv2["relu"]
            and conv1["shape"] == conv2["shape"]
            and all(nodes[n]["op"] == "conv" and not nodes[n]["relu"] for n in skip))


class GraphNet(QuantNet):
    """The quantization-aware model of a captured graph (``spec["graph"]``)."""

    def __init__(self, spec):
        super().__init__(spec)
        graph = spec["graph"]
        self.nodes = {n["name"]: n for n in graph["nodes"]}
        self.output = graph["output"]
        wb, ab = spec["weight_bits"], spec["act_bits"]
        bits = {"input": spec["input_bits"]}  # each value's bits
        layers = {}
        for n in graph["nodes"]:
            name, op = n["name"], n["op"]
            out_bits = spec["logit_bits"] if name == self.output else ab
            if op == "conv":
                layers[name] = QConvBN(name, n["in_channels"], n["out_channels"], n["kernel"],
                                       n["stride"], wb, out_bits, n["padding"], n["bn"], n["bias"])
            elif op == "dense":
                layers[name] = QDense(name, n["in_features"], n["out_features"], wb, out_bits,
                                      n["bias"])
            elif op == "add":
                layers[name] = QAdd(name, out_bits)
            elif op == "maxpool":
                layers[name] = QMaxPool(name, n["kernel"], n["stride"], n["padding"])
                out_bits = bits[n["input"]]
            else:  # gap: the output keeps its input's type
                layers[name] = QGlobalAvgPool(name, bits[n["input"]])
                out_bits = bits[n["input"]]
            bits[name] = out_bits
        self.blocks = residuals(graph)
        for r in self.blocks:
            for name, conv in zip(r.short_adds or (), r.main):
                layers[name] = QAdd(name, bits[conv])
        self.layers = nn.ModuleDict(layers)

    def dataflow(self, apply, x):
        """The graph from its output back, under the current skip switches; ``apply(layer,
        *inputs, **kw)`` evaluates or exports a layer (each at most once)."""
        values = {"input": x}
        by_add = {r.add: r for r in self.blocks}

        def value(name, relu=False):
            """``relu``: the ReLU of a removed add downstream (its main branch's last layer
            feeds nothing else, so the layer can take it)."""
            if name not in values:
                values[name] = evaluate(self.nodes[name], by_add.get(name), relu)
            return values[name]

        def evaluate(node, residual, relu):
            layer, op = self.layers[node["name"]], node["op"]
            if residual is not None and residual.form == "short":
                conv1, conv2 = (self.layers[n] for n in residual.main)
                add1, add2 = (self.layers[n] for n in residual.short_adds)
                bypass = (lambda: value(residual.skip[-1])) if residual.skip else (
                    lambda: value(residual.fork))
                return short_form(apply, conv1, conv2, add1, add2, value(residual.fork), bypass,
                                  residual.skips_on)
            if residual is not None and not residual.skips_on[0]:
                return value(residual.main[-1], relu=node["relu"])
            if op == "add":
                a, b = (value(n) for n in node["inputs"])
                return apply(layer, a, b, relu=node["relu"] or relu)
            if op in ("conv", "dense"):
                return apply(layer, value(node["input"]), relu=node["relu"] or relu)
            return apply(layer, value(node["input"]))

        return value(self.output)
