"""The engine of each netdesc op: the one place that turns a layer into engine parameters.

Engines take explicit parameters (shapes, types, weights, the MAC grid) and raise
``ValueError`` for what they cannot build; :func:`build_engine` reads them off a layer, chooses
the MAC grid of the layer's parallelism before any engine exists, and turns such an error into
a :class:`~netdesc.errors.NetdescError` naming the file and the layer.
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


def folds(in_shape, kernel, stride, padding, schedule):
    """Whether a conv2d of this geometry and MAC grid is built as a :class:`FoldedConvEngine`:
    when its window is more than one pixel (a 1x1 window's registers are smaller than a window
    memory and its writer), it takes one operand per cycle (no window register is then needed)
    and writing its input element by element is no slower than its MAC array (so it runs as
    fast as the :class:`ConvEngine` would)."""
    if kernel == 1 or schedule.lanes_in != 1:
        return False
    ring = RowRing(*in_shape, kernel, stride, padding)
    return ring.write_cycles() <= ring.out_height * ring.out_width * schedule.cycles


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


def _conv2d(net, layer, parallelism, mac):
    p = conv2d_parameters(net, layer, parallelism, mac)
    fold = folds(p["in_shape"], layer.kernel, layer.stride, layer.padding, p["schedule"])
    return (FoldedConvEngine if fold else ConvEngine)(**p)


def _dense(net, layer, parallelism, mac):
    return DenseEngine(in_shape=net.shape_of(layer.inputs[0]),
                       in_type=net.type_of(layer.inputs[0]), weights=layer.weights,
                       weight_bits=layer.weight_bits, bias=layer.bias,
                       acc_range=accumulator_range(net, layer),
                       schedule=mac_schedule(net, layer, parallelism),
                       mac=mac, **_output_stage(layer))


def _maxpool2d(net, layer, parallelism, mac):
    return MaxPoolEngine(in_shape=net.shape_of(layer.inputs[0]),
                         ttype=net.type_of(layer.inputs[0]), kernel=layer.kernel,
                         stride=layer.stride, padding=layer.padding)


def _global_avg_pool(net, layer, parallelism, mac):
    return GlobalAvgPoolEngine(in_shape=net.shape_of(layer.inputs[0]),
                               in_type=net.type_of(layer.inputs[0]),
                               multiplier=layer.multiplier,
                               acc_range=accumulator_range(net, layer), **_output_stage(layer))


def _add(net, layer, parallelism, mac):
    return AddEngine(channels=layer.shape[0], in_types=[net.type_of(n) for n in layer.inputs],
                     shifts_in=layer.shifts_in, acc_range=accumulator_range(net, layer),
                     **_output_stage(layer))


# op name -> (engine classes, their builder from a layer)
ENGINES = {
    "conv2d": ((ConvEngine, FoldedConvEngine), _conv2d),
    "dense": ((DenseEngine,), _dense),
    "maxpool2d": ((MaxPoolEngine,), _maxpool2d),
    "global_avg_pool": ((GlobalAvgPoolEngine,), _global_avg_pool),
    "add": ((AddEngine,), _add),
}


def build_engine(net, layer, parallelism=None, mac=MacBuild()):
    """The stream engine computing ``layer`` of ``net``, with ``parallelism`` MACs per cycle
    where the op has MACs (default: :meth:`rtl.hwconfig.HwConfig.default`'s), its MAC array
    built as ``mac`` says."""
    if parallelism is None and layer.has_weights:
        parallelism = HwConfig.default(net).parallelism[layer.name]
    try:
        return ENGINES[layer.op][1](net, layer, parallelism, mac)
    except ValueError as e:
        raise NetdescError(net.source, str(e), layer.name) from None
