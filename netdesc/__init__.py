"""The network description (netdesc): format, validation, graph queries, reference executor.

Imports numpy only: neither torch nor amaranth.
"""

from .arith import TensorType, requantize, round_shift, saturate
from .bounds import accumulator_range
from .errors import NetdescError
from .graph import Skip, consumers, macs, parameters, skips
from .io import load, save, to_json_obj
from .model import InputSpec, Layer, Netdesc
from .reference import check_input, run
from .validate import parse

__all__ = [
    "TensorType", "requantize", "round_shift", "saturate", "accumulator_range", "NetdescError",
    "Skip", "consumers", "macs", "parameters", "skips", "load", "save", "to_json_obj",
    "InputSpec", "Layer", "Netdesc", "check_input", "run", "parse",
]
