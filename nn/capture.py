"""Bring your own network: a user's PyTorch model captured by ``torch.fx`` as a graph that the
quantization-aware model (:class:`nn.graphnet.GraphNet`) replays.

A model is named by a reference, ``FILE.py:FUNC`` or ``package.module:FUNC``: ``FUNC()``
returns an ``nn.Module`` (optionally given float weights by ``--init-weights``). Capture traces
it symbolically and maps every node to a netdesc op, refusing anything else before training
starts, with one line naming the node (its module path and its op) and the rule:

- ``Conv2d`` [→ ``BatchNorm2d``] [→ ReLU]: one quantized conv (batch norm folded into it);
- ``Linear`` [→ ReLU]: dense; ``+`` / ``torch.add`` / ``Tensor.add`` [→ ReLU]: add;
- ``MaxPool2d`` / ``F.max_pool2d`` (padding up to kernel // 2): maxpool2d;
- ``AdaptiveAvgPool2d(1)`` / ``F.adaptive_avg_pool2d(x, 1)`` / mean over H and W:
  global_avg_pool;
- ``flatten`` / ``nn.Flatten`` / ``view`` or ``reshape`` to ``[N, -1]``, ``nn.Identity``: no
  layer (dense flattens in the same C, H, W order).

ReLU (module, functional, method, in place) fuses into the conv, dense or add before it, which
must feed nothing else. The graph is a JSON-ready dict, ``{"nodes": [...], "output": name}``,
each node ``{"name", "op", "input" or "inputs", "shape", ...}`` with op ``conv``, ``dense``,
``add``, ``maxpool`` or ``gap``; it is stored in the model's spec, so a checkpoint rebuilds the
model without the user's file.
"""

import importlib
import importlib.util
import operator
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from common.errors import TailorError, reason

SUPPORTED = ("Conv2d, BatchNorm2d after a Conv2d, ReLU, Linear, + / torch.add, MaxPool2d, "
             "AdaptiveAvgPool2d(1) or a mean over H and W, flatten / view(N, -1), Identity")


def is_reference(model):
    """Whether ``model`` names a user's function (``FILE.py:FUNC``, ``package.module:FUNC``)
    rather than a built-in model."""
    return ":" in model


def load_function(ref):
    """The function ``ref`` names, or a one-line error."""
    target, _, func = ref.rpartition(":")
    if not target or not func.isidentifier():
        raise TailorError(f"model '{ref}': give FILE.py:FUNC or package.module:FUNC")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise TailorError(f"{path}: file not found (model '{ref}')")
        spec = importlib.util.spec_from_file_location(f"tailor_user_model_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # the user's file: any error it raises is theirs to read
            raise TailorError(f"{path}: importing it failed ({reason(e)})") from None
    else:
        try:
            module = importlib.import_module(target)
        except Exception as e:  # likewise a user's package
            raise TailorError(f"model '{ref}': cannot import '{target}' ({reason(e)})") from None
    fn = getattr(module, func, None)
    if not callable(fn):
        raise TailorError(f"model '{ref}': '{target}' has no function '{func}'")
    return fn


def instantiate(ref, init_weights=None):
    """The ``nn.Module`` that ``ref``'s function returns, with the float weights of the state
    dict file ``init_weights`` if given."""
    try:
        module = load_function(ref)()
    except TailorError:
        raise
    except Exception as e:  # the user's function
        raise TailorError(f"model '{ref}': calling it failed ({reason(e)})") from None
    if not isinstance(module, nn.Module):
        raise TailorError(f"model '{ref}': returned a {type(module).__name__}, not a torch.nn.Module")
    if init_weights is not None:
        path = Path(init_weights)
        if not path.is_file():
            raise TailorError(f"{path}: weights file not found")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
                state = state["state_dict"]
            module.load_state_dict(state)
        except Exception as e:  # a file of the user's: unreadable, or weights of another model
            raise TailorError(f"{path}: not a state dict of model '{ref}' ({reason(e)})") from None
    return module


# -- capture ---------------------------------------------------------------------------------

def _pair(value, what, node):
    """A square kernel / stride / padding as one integer."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            node.refuse(f"{what} {tuple(value)} is not square")
        value = value[0]
    if not isinstance(value, int):
        node.refuse(f"{what} {value!r} is not an integer")
    return value


def _bind(fn_params, node):
    """``{name: value}`` of a call's arguments, by a table ``((name, default), ...)``."""
    names = [name for name, _ in fn_params]
    if len(node.fx.args) > len(names) or set(node.fx.kwargs) - set(names):
        node.refuse("takes arguments the mapping does not know")
    values = dict(fn_params)
    values.update(zip(names, node.fx.args))
    values.update(node.fx.kwargs)
    return values


_REQUIRED = object()
_MAXPOOL_ARGS = (("input", _REQUIRED), ("kernel_size", _REQUIRED), ("stride", None),
                 ("padding", 0), ("dilation", 1), ("ceil_mode", False), ("return_indices", False))
_RELU_FUNCS = {F.relu, torch.relu, torch.relu_, F.relu_}
_ADD_FUNCS = {operator.add, operator.iadd, torch.add}
_FLATTEN_METHODS = {"flatten", "view", "reshape"}


class _Node:
    """One fx node under capture: where it is (for messages) and its traced shape."""

    def __init__(self, fx_node, module, where):
        self.fx, self.where = fx_node, where
        if fx_node.op == "call_module":
            self.path, self.what = fx_node.target, f"nn.{type(module).__name__}"
        else:
            stack = fx_node.meta.get("nn_module_stack") or {}
            scope = next(reversed(stack.values()))[0] if stack else ""
            self.path = f"{scope}.{fx_node.name}" if scope else fx_node.name
            target = fx_node.target
            self.what = (f"Tensor.{target}" if fx_node.op == "call_method"
                         else f"{getattr(target, '__module__', None) or 'builtins'}."
                              f"{getattr(target, '__name__', target)}")
            self.what = self.what.replace("torch._C._VariableFunctions", "torch")
            self.what = self.what.replace("_operator.", "operator.")
        meta = fx_node.meta.get("tensor_meta")
        self.shape = tuple(meta.shape) if hasattr(meta, "shape") else None

    def refuse(self, rule):
        raise TailorError(f"model '{self.where}': node '{self.path}' ({self.what}): {rule}")


class _Capture:
    """The walk over the traced graph: fx nodes become graph nodes, or aliases of one."""

    def __init__(self, gm, where):
        self.gm, self.where = gm, where
        self.nodes = []  # graph nodes, in order
        self.by_name = {}
        self.value = {}  # fx node -> the graph value it is ("input" or a graph node's name)
        self.defs = {}  # graph value -> the fx nodes that define it (fusions and aliases add theirs)
        self.names = {"input"}

    def name(self, path):
        """A netdesc-valid, unused layer name for module path ``path``."""
        base = re.sub(r"\W", "_", path) or "layer"
        base = base if not base[0].isdigit() else f"l{base}"
        name, k = base[:120], 1
        while name in self.names:
            name, k = f"{base[:120]}_{k}", k + 1
        self.names.add(name)
        return name

    def source(self, node, arg):
        if not isinstance(arg, fx.Node) or arg not in self.value:
            node.refuse("takes a value that is not a tensor of the network")
        return self.value[arg]

    def add_node(self, node, graph_node):
        graph_node["shape"] = list(node.shape[1:])
        self.nodes.append(graph_node)
        self.by_name[graph_node["name"]] = graph_node
        self.value[node.fx] = graph_node["name"]
        self.defs[graph_node["name"]] = [node.fx]
        return graph_node

    def alias(self, node, source):
        self.value[node.fx] = source
        if source != "input":
            self.defs[source].append(node.fx)

    def fusable(self, node, source, ops):
        """The graph node that ``node`` (a batch norm or a ReLU) fuses into, or a refusal."""
        producer = self.by_name.get(source)
        sole = producer is not None and all(len(n.users) == 1 for n in self.defs[source])
        if producer is None or producer["op"] not in ops or not sole:
            node.refuse(f"must follow a {' or '.join(ops)} that feeds nothing else")
        return producer

    def map_input(self, node, arg):
        source = self.source(node, arg)
        if len(arg.meta["tensor_meta"].shape) != 4:
            node.refuse("takes a feature map [N, C, H, W]")
        return source

    # -- one method per kind of node ---------------------------------------------------------

    def conv(self, node, m):
        for bad, rule in ((m.groups != 1, "groups must be 1"),
                          (_pair(m.dilation, "dilation", node) != 1, "dilation must be 1"),
                          (m.padding_mode != "zeros", "padding must be zeros"),
                          (isinstance(m.padding, str), "padding must be a number, not 'same'")):
            if bad:
                node.refuse(rule)
        self.add_node(node, {"name": self.name(node.path), "op": "conv",
                             "input": self.map_input(node, node.fx.args[0]),
                             "in_channels": m.in_channels, "out_channels": m.out_channels,
                             "kernel": _pair(m.kernel_size, "kernel", node),
                             "stride": _pair(m.stride, "stride", node),
                             "padding": _pair(m.padding, "padding", node),
                             "bias": m.bias is not None, "bn": False, "relu": False,
                             "modules": {"conv": node.path}})

    def batch_norm(self, node, m):
        conv = self.fusable(node, self.source(node, node.fx.args[0]), ("conv",))
        if conv["bn"] or conv["relu"]:
            node.refuse("must follow a conv directly")
        if not m.affine or not m.track_running_stats:
            node.refuse("needs affine parameters and running statistics")
        conv.update(bn=True, modules={**conv["modules"], "bn": node.path})
        self.alias(node, conv["name"])

    def relu(self, node):
        producer = self.fusable(node, self.source(node, node.fx.args[0]), ("conv", "dense", "add"))
        producer["relu"] = True
        self.alias(node, producer["name"])

    def linear(self, node, m):
        arg = node.fx.args[0]
        if len(arg.meta["tensor_meta"].shape) != 2:
            node.refuse("takes a flat vector [N, F] (flatten the feature map first)")
        self.add_node(node, {"name": self.name(node.path), "op": "dense",
                             "input": self.source(node, arg), "in_features": m.in_features,
                             "out_features": m.out_features, "bias": m.bias is not None,
                             "relu": False, "modules": {"linear": node.path}})

    def add(self, node):
        args = node.fx.args
        if len(args) != 2 or node.fx.kwargs:
            node.refuse("takes exactly two tensors (no alpha, no out)")
        a, b = (self.map_input(node, arg) for arg in args)
        if args[0].meta["tensor_meta"].shape != args[1].meta["tensor_meta"].shape:
            node.refuse("adds tensors of different shapes (no broadcasting)")
        self.add_node(node, {"name": self.name(node.path.rsplit(".", 1)[0] + ".add"
                                               if "." in node.path else "add"),
                             "op": "add", "inputs": [a, b], "relu": False})

    def maxpool(self, node, kernel, stride, padding, dilation, ceil_mode, return_indices):
        kernel = _pair(kernel, "kernel", node)
        stride = kernel if stride in (None, []) else _pair(stride, "stride", node)
        if _pair(dilation, "dilation", node) != 1 or ceil_mode or return_indices:
            node.refuse("dilation must be 1, ceil_mode and return_indices False")
        padding = _pair(padding, "padding", node)
        if padding > kernel // 2:
            node.refuse(f"padding {padding} exceeds kernel // 2 = {kernel // 2}")
        self.add_node(node, {"name": self.name(node.path), "op": "maxpool",
                             "input": self.map_input(node, node.fx.args[0]), "kernel": kernel,
                             "stride": stride, "padding": padding})

    def gap(self, node, arg):
        pooled = self.add_node(node, {"name": self.name(node.path), "op": "gap",
                                      "input": self.map_input(node, arg)})
        pooled["shape"] = pooled["shape"][:1]  # [C], whether or not the mean kept H and W

    def flatten(self, node, arg):
        """A reshape that only flattens [N, ...] to [N, F] is no layer."""
        in_shape = arg.meta["tensor_meta"].shape if isinstance(arg, fx.Node) else None
        if in_shape is None or node.shape is None or len(node.shape) != 2 or \
                node.shape[1] != int(torch.Size(in_shape[1:]).numel()):
            node.refuse("only flattening to [N, -1] is supported")
        self.alias(node, self.source(node, arg))

    # -- the walk ----------------------------------------------------------------------------

    def module_node(self, node, m):
        kind = type(m)
        if kind is nn.Conv2d:
            self.conv(node, m)
        elif kind is nn.BatchNorm2d:
            self.batch_norm(node, m)
        elif kind is nn.ReLU:
            self.relu(node)
        elif kind is nn.Linear:
            self.linear(node, m)
        elif kind is nn.MaxPool2d:
            self.maxpool(node, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode,
                         m.return_indices)
        elif kind is nn.AdaptiveAvgPool2d:
            if _output_is_one(m.output_size):
                self.gap(node, node.fx.args[0])
            else:
                node.refuse("only output size 1 (a global average pool) is supported")
        elif kind is nn.Flatten:
            if (m.start_dim, m.end_dim) != (1, -1):
                node.refuse("only Flatten(1, -1) is supported")
            self.flatten(node, node.fx.args[0])
        elif kind is nn.Identity:
            self.alias(node, self.source(node, node.fx.args[0]))
        else:
            node.refuse(f"op not supported (supported: {SUPPORTED})")

    def function_node(self, node):
        fn = node.fx.target
        if fn in _RELU_FUNCS:
            self.relu(node)
        elif fn in _ADD_FUNCS:
            self.add(node)
        elif fn is F.max_pool2d or fn is torch.max_pool2d:
            args = _bind(_MAXPOOL_ARGS, node)
            self.maxpool(node, *(args[k] for k, _ in _MAXPOOL_ARGS[1:]))
        elif fn is F.adaptive_avg_pool2d:
            args = _bind((("input", _REQUIRED), ("output_size", _REQUIRED)), node)
            if not _output_is_one(args["output_size"]):
                node.refuse("only output size 1 (a global average pool) is supported")
            self.gap(node, args["input"])
        elif fn is torch.mean:
            self.mean(node)
        elif fn is torch.flatten:
            args = _bind((("input", _REQUIRED), ("start_dim", 0), ("end_dim", -1)), node)
            if (args["start_dim"], args["end_dim"]) != (1, -1):
                node.refuse("only flatten(x, 1) is supported")
            self.flatten(node, args["input"])
        else:
            node.refuse(f"op not supported (supported: {SUPPORTED})")

    def method_node(self, node):
        method = node.fx.target
        if method in ("relu", "relu_") and len(node.fx.args) == 1:
            self.relu(node)
        elif method in ("add", "add_"):
            self.add(node)
        elif method == "mean":
            self.mean(node)
        elif method in _FLATTEN_METHODS:
            self.flatten(node, node.fx.args[0])
        elif method == "size":
            if not all(u.op == "call_method" and u.target in _FLATTEN_METHODS for u in node.fx.users):
                node.refuse("sizes may only shape a flatten (view(x.size(0), -1))")
        else:
            node.refuse(f"op not supported (supported: {SUPPORTED})")

    def mean(self, node):
        args = _bind((("input", _REQUIRED), ("dim", None), ("keepdim", False), ("dtype", None)),
                     node)
        dims = args["dim"] if isinstance(args["dim"], (tuple, list)) else [args["dim"]]
        x = args["input"]
        rank = len(x.meta["tensor_meta"].shape) if isinstance(x, fx.Node) else 0
        over_h_and_w = sorted(d % 4 for d in dims if isinstance(d, int)) == [2, 3]
        if rank != 4 or args["dtype"] is not None or not over_h_and_w:
            node.refuse("only a mean over H and W of a feature map is supported")
        self.gap(node, x)

    def run(self):
        output = None
        for fx_node in self.gm.graph.nodes:
            module = self.gm.get_submodule(fx_node.target) if fx_node.op == "call_module" else None
            node = _Node(fx_node, module, self.where)
            if fx_node.op == "placeholder":
                self.value[fx_node] = "input"
            elif fx_node.op == "call_module":
                self.module_node(node, module)
            elif fx_node.op == "call_function":
                self.function_node(node)
            elif fx_node.op == "call_method":
                self.method_node(node)
            elif fx_node.op == "get_attr":
                node.refuse("reads a tensor attribute; parameters must live in supported modules")
            else:  # output
                result = fx_node.args[0]
                if not isinstance(result, fx.Node):
                    node.refuse("the network must return one tensor")
                output = self.source(node, result)
        if output == "input":  # else it names a graph node: every fx graph has its output
            raise TailorError(f"model '{self.where}': the network computes nothing")
        return {"nodes": self.nodes, "output": output}


def _output_is_one(size):
    return size == 1 or (isinstance(size, (tuple, list)) and list(size) in ([1], [1, 1]))


def capture(module, input_shape, where):
    """The graph of ``module`` (see the module docstring) for one input ``[C, H, W]``;
    ``where`` names the model in messages."""
    try:
        gm = fx.symbolic_trace(module)
    except Exception as e:  # fx refuses data-dependent control flow and the like
        raise TailorError(f"model '{where}': torch.fx cannot trace it ({reason(e)})") from None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise TailorError(f"model '{where}': forward takes {len(placeholders)} inputs; "
                          "the network must take one image tensor")
    was_training = gm.training
    gm.eval()  # shapes only: eval mode leaves the batch statistics alone
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(torch.zeros(2, *input_shape))
    except Exception as e:  # the user's network rejects this input shape
        raise TailorError(f"model '{where}': does not run on input "
                          f"{'x'.join(map(str, input_shape))} ({reason(e)})") from None
    finally:
        gm.train(was_training)
    return _Capture(gm, where).run()


def copy_weights(graph, module, model):
    """Give the quantized ``model`` (built from ``graph``) the float weights of the user's
    ``module``: conv and linear parameters, batch norm parameters and running statistics."""
    with torch.no_grad():
        for node in graph["nodes"]:
            layer = model.layers[node["name"]]
            paths = node.get("modules", {})
            if "conv" in paths:
                conv = module.get_submodule(paths["conv"])
                layer.weight.copy_(conv.weight)
                if conv.bias is not None:
                    layer.bias.copy_(conv.bias)
            if "bn" in paths:
                layer.bn.load_state_dict(module.get_submodule(paths["bn"]).state_dict())
            if "linear" in paths:
                layer.linear.load_state_dict(module.get_submodule(paths["linear"]).state_dict())


def _detail(node):
    """A graph node's parameters in a few characters, for :func:`graph_table`."""
    window = f"{node.get('kernel')}x{node.get('kernel')}/{node.get('stride')} pad {node.get('padding')}"
    parts = {"conv": [window, "+BN" if node.get("bn") else ""], "maxpool": [window]}.get(node["op"], [])
    return " ".join(p for p in parts + ["+ReLU" if node.get("relu") else ""] if p)


def graph_table(graph):
    """Rows ``[layer, op, input(s), output shape, details]`` of a captured graph."""
    return [[n["name"], n["op"], ", ".join(n.get("inputs") or [n["input"]]),
             "x".join(map(str, n["shape"])), _detail(n)] for n in graph["nodes"]]
