"""Graph queries on a netdesc: who reads what, skip connections and their spans, sizes."""

from dataclasses import dataclass

from .ops import op_of


def consumers(net):
    """``{name: [names of the layers reading it]}`` for the input and every layer."""
    readers = {net.input.name: []}
    readers.update({l.name: [] for l in net.layers})
    for l in net.layers:
        for src in l.inputs:
            readers[src].append(l.name)
    return readers


def ancestors(net, name):
    """Every tensor (input and layers) that ``name`` depends on, ``name`` included."""
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            if n != net.input.name:
                todo.extend(net.layer(n).inputs)
    return seen


@dataclass(frozen=True)
class Skip:
    """A skip connection: the stream forked at ``fork`` that rejoins at the ``add`` layer.

    ``bypass`` lists the layers on the short branch (empty for an identity skip, the 1×1
    projection otherwise) and ``main`` those on the long one, both in topological order and
    excluding the fork. ``span`` is the number of conv2d layers on the main branch (the layers
    whose op :attr:`~netdesc.ops.Op.counts_in_span`).
    ``bypass_input`` is 0 or 1: which of the add's inputs the bypass branch drives.
    """

    add: str
    fork: str
    bypass_input: int
    bypass: tuple
    main: tuple
    span: int


def _branch(net, fork, tip, order):
    """Layers strictly after ``fork`` that ``tip`` depends on, in topological order."""
    if tip == fork:
        return ()
    between = ancestors(net, tip) - ancestors(net, fork)
    return tuple(sorted(between, key=order.__getitem__))


def skips(net):
    """The skip connections of ``net``, in the order of their add layers.

    The fork of an add is the latest tensor both of its inputs depend on; the branch with fewer
    conv2d layers (then fewer layers, then the second input) is the bypass. Every add is the
    join of one skip (its op :attr:`~netdesc.ops.Op.joins`), so a valid netdesc has as many
    skips as adds.
    """
    order = {net.input.name: -1}
    order.update({l.name: i for i, l in enumerate(net.layers)})
    result = []
    for l in net.layers:
        if not op_of(l).joins:
            continue
        a, b = l.inputs
        common = ancestors(net, a) & ancestors(net, b)
        fork = max(common, key=order.__getitem__)
        branches = [_branch(net, fork, a, order), _branch(net, fork, b, order)]
        convs = [sum(op_of(net.layer(n)).counts_in_span for n in br) for br in branches]
        by = 0 if (convs[0], len(branches[0])) < (convs[1], len(branches[1])) else 1
        result.append(Skip(l.name, fork, by, branches[by], branches[1 - by], convs[1 - by]))
    return result


def macs(layer):
    """Multiply-accumulates one inference performs in ``layer`` (0 for ops without weights)."""
    return op_of(layer).macs(layer)


def parameters(layer):
    """Weights plus biases stored for ``layer``."""
    return op_of(layer).parameters(layer)
