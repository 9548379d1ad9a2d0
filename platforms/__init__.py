"""Yosys resource reports, board tops and bitstream builds for the generated accelerators.

Modules, by concept:

- :mod:`platforms.toolchain`: finding and running the YoWASP tools, tool versions.
- :mod:`platforms.resources`: turning Yosys cell counts into LUT / FF / BRAM / DSP / LUT-RAM,
  per target and per module of the hierarchy.
- :mod:`platforms.synth`: the synthesis flow per target (``synthesize``, ``synthesize_net``).
- :mod:`platforms.uart`: UART receiver and transmitter.
- :mod:`platforms.board_top`: the accelerator behind a UART byte protocol with a status LED.
- :mod:`platforms.boards`: the boards ``tailor build`` knows.
- :mod:`platforms.build`: bitstreams for iCEBreaker and ULX3S-85F with nextpnr reports.
- :mod:`platforms.regression`: stored resource baselines (``platforms/baselines/``) and their
  comparison.
- :mod:`platforms.cli`: ``tailor synth`` and ``tailor build``.

Imports amaranth, amaranth-boards, rtl and netdesc; never torch.
"""
