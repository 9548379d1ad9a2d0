"""Verilog simulation models of the vendor primitives this package instantiates (Yosys ships
only black boxes of them), for the compiled simulation of a design elaborated for its
platform."""

import re
from pathlib import Path

__all__ = ["simulation_models"]

_MODELS = {"MULT18X18D": "mult18x18d_model.v",  # rtl.dsp.PipelinedMultiplier
           "DP16KD": "dp16kd_model.v"}          # rtl.block_rom.RegisteredRom


def simulation_models(design):
    """The Verilog models of the primitives that ``design`` (Verilog or RTLIL text)
    instantiates."""
    return "".join(Path(__file__).with_name(model).read_text()
                   for name, model in _MODELS.items() if re.search(rf"\b{name}\b", design))
