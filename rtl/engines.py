"""The engine of each netdesc op: the one place that turns a layer into engine parameters.

Engines take explicit parameters (shapes, types, weights, the MAC grid) and raise
``ValueError`` for what they cannot build; :func:`build_engine` reads them off a layer, chooses
the MAC grid of the layer's parallelism before any engine exists, and turns such an error into
a :class:`~netdesc.errors.NetdescError` naming the file and the layer.

Channel groups (:mod:`rtl.streams`): :func:`output_group` says which engines can send a
channel group per beat, :func:`reads_groups` which can read one at no loss of speed; the plan
(:func:`rtl.plan.stream_lanes`) gives a stream groups where both of its ends can.
"""

from netdesc import accumulator_range
from netdesc.errors import NetdescError

from .add import AddEngine
from .conv import ConvEngine
from .dense import DenseEngine
from .folded_conv import FoldedConvEngine
from .hwconfig import HwConfig
from .mac import MacBuild, MacSchedule
from .pool import GlobalAvgPoolEngine, MaxPoolEngine
from .window_memory import RowRing


def _output_stage(layer):
    return {"shift": layer.shift, "relu": layer.relu, "out_type": layer.type}


def folds(in_shape, kernel, stride, padding, schedule, in_lanes=None):
    """Whether a conv2d of this geometry and MAC grid, its input in groups of ``in_lanes``
    channels (default: whole pixels), is built as a :class:`FoldedConvEngine`: when it takes
    one operand per cycle (no window register is then needed), its window is more than one
    pixel or its input comes in groups (a whole pixel's 1x1 window in registers is smaller than
    a window memory and its writer), and writing its input element by element is no slower
    than its MAC array (so it runs as fast as the :class:`ConvEngine` would)."""
    grouped = in_lanes not in (None, in_shape[0])
    if schedule.lanes_in != 1 or (kernel == 1 and not grouped):
        return False
    ring = RowRing(*in_shape, kernel, stride, padding)
    return ring.write_cycles(in_lanes) <= ring.out_height * ring.out_width * schedule.cycles


def mac_schedule(net, layer, parallelism):
    """The MAC grid of the engine of a conv2d / dense ``layer`` at ``parallelism``: its
    outputs by the operands of one vector (a conv's k x k x C window, a dense layer's input
    beat)."""
    operands = (net.shape_of(layer.inputs[0])[0] if layer.op == "dense"
                else layer.weights[0].size)
    return MacSchedule.choose(layer.shape[0], operands, parallelism)


def conv2d_parameters(net, layer, parallelism, mac=MacBuild()):
    """The parameters both conv engines take, for ``layer`` of ``net`` at ``parallelism``."""
    return dict(in_shape=net.shape_of(layer.inputs[0]), in_type=net.type_of(layer.inputs[0]),
                weights=layer.weights, weight_bits=layer.weight_bits, bias=layer.bias,
                stride=layer.stride, padding=layer.padding,
                acc_range=accumulator_range(net, layer),
                schedule=mac_schedule(net, layer, parallelism),
                mac=mac, **_output_stage(layer))


def _folds(net, layer, parallelism, in_lanes):
    """Whether conv2d ``layer`` at ``parallelism``, its input in groups of ``in_lanes``
    (None: whole pixels), is built as a :class:`FoldedConvEngine`, and its MAC grid."""
    schedule = mac_schedule(net, layer, parallelism)
    return folds(net.shape_of(layer.inputs[0]), layer.kernel, layer.stride, layer.padding,
                 schedule, in_lanes), schedule


def output_group(net, layer, parallelism, in_lanes=None):
    """Channels per beat the engine of ``layer`` at ``parallelism``, its input in groups of
    ``in_lanes`` (None: whole pixels), can send when it computes its output a group of
    channels at a time: a folded conv's output lanes, if fewer than all and dividing them; an
    add's input groups; else None (whole pixels)."""
    if layer.op == "add":
        return in_lanes
    if layer.op != "conv2d":
        return None
    folded, schedule = _folds(net, layer, parallelism, in_lanes)
    lanes = schedule.lanes_out
    return lanes if folded and lanes < layer.shape[0] and layer.shape[0] % lanes == 0 else None


def reads_groups(net, layer, parallelism, lanes):
    """Whether the engine of ``layer`` at ``parallelism`` reads its input in groups of
    ``lanes`` channels as fast as whole pixels: a conv folded on such input (its writer stores
    one element per cycle anyway), an add (on both inputs alike: the plan sees to that) and a
    global average pool."""
    if layer.op in ("global_avg_pool", "add"):
        return True
    return layer.op == "conv2d" and _folds(net, layer, parallelism, lanes)[0]


def _conv2d(net, layer, parallelism, mac, in_lanes, out_lanes):
    p = conv2d_parameters(net, layer, parallelism, mac)
    fold = folds(p["in_shape"], layer.kernel, layer.stride, layer.padding, p["schedule"],
                 in_lanes)
    if fold:
        engine = FoldedConvEngine(**p, in_lanes=in_lanes,
                                  grouped_output=out_lanes not in (None, layer.shape[0]))
        if out_lanes not in (None, engine.out_lanes):
            raise ValueError(f"this conv sends groups of {engine.out_lanes} channels, not "
                             f"{out_lanes}")
        return engine
    _whole_pixels(layer, in_lanes, out_lanes)
    return ConvEngine(**p)


def _whole_pixels(layer, in_lanes, out_lanes):
    """``ValueError`` unless both streams of an engine without channel groups carry whole
    pixels."""
    if in_lanes is not None or out_lanes is not None:
        raise ValueError(f"the {layer.op} engine of this layer carries whole pixels, not "
                         f"channel groups")


def _dense(net, layer, parallelism, mac, in_lanes, out_lanes):
    _whole_pixels(layer, in_lanes, out_lanes)
    return DenseEngine(in_shape=net.shape_of(layer.inputs[0]),
                       in_type=net.type_of(layer.inputs[0]), weights=layer.weights,
                       weight_bits=layer.weight_bits, bias=layer.bias,
                       acc_range=accumulator_range(net, layer),
                       schedule=mac_schedule(net, layer, parallelism),
                       mac=mac, **_output_stage(layer))


def _maxpool2d(net, layer, parallelism, mac, in_lanes, out_lanes):
    _whole_pixels(layer, in_lanes, out_lanes)
    return MaxPoolEngine(in_shape=net.shape_of(layer.inputs[0]),
                         ttype=net.type_of(layer.inputs[0]), kernel=layer.kernel,
                         stride=layer.stride, padding=layer.padding)


def _global_avg_pool(net, layer, parallelism, mac, in_lanes, out_lanes):
    _whole_pixels(layer, None, out_lanes)
    return GlobalAvgPoolEngine(in_shape=net.shape_of(layer.inputs[0]),
                               in_type=net.type_of(layer.inputs[0]),
                               multiplier=layer.multiplier,
                               acc_range=accumulator_range(net, layer), in_lanes=in_lanes,
                               registered=mac.registered, **_output_stage(layer))


def _add(net, layer, parallelism, mac, in_lanes, out_lanes):
    # Elementwise with one shift per input: a group of channels is added like a whole pixel.
    if in_lanes != out_lanes:
        raise ValueError(f"an add sends the channel groups it reads ({in_lanes}), not "
                         f"{out_lanes}")
    # A registered build (for a fast clock) registers the sums as it does the MAC arrays' products.
    return AddEngine(channels=in_lanes or layer.shape[0],
                     in_types=[net.type_of(n) for n in layer.inputs], shifts_in=layer.shifts_in,
                     acc_range=accumulator_range(net, layer), registered=mac.registered,
                     **_output_stage(layer))


# op name -> (engine classes, their builder from a layer)
ENGINES = {
    "conv2d": ((ConvEngine, FoldedConvEngine), _conv2d),
    "dense": ((DenseEngine,), _dense),
    "maxpool2d": ((MaxPoolEngine,), _maxpool2d),
    "global_avg_pool": ((GlobalAvgPoolEngine,), _global_avg_pool),
    "add": ((AddEngine,), _add),
}


def build_engine(net, layer, parallelism=None, mac=MacBuild(), in_lanes=None, out_lanes=None):
    """The stream engine computing ``layer`` of ``net``, with ``parallelism`` MACs per cycle
    where the op has MACs (default: :meth:`rtl.hwconfig.HwConfig.default`'s), its MAC array
    built as ``mac`` says, ``in_lanes`` / ``out_lanes`` channels per beat of its (first) input
    and its output (None: whole pixels; see :func:`output_group` and :func:`reads_groups`)."""
    if parallelism is None and layer.has_weights:
        parallelism = HwConfig.default(net).parallelism[layer.name]
    try:
        return ENGINES[layer.op][1](net, layer, parallelism, mac, in_lanes, out_lanes)
    except ValueError as e:
        raise NetdescError(net.source, str(e), layer.name) from None
