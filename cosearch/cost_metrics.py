"""What the evaluator predicts and what the co-search minimises.

:data:`METRICS`: per design, LUT, FF, BRAM and DSP (Yosys) and the steady-state cycles per
inference (the timing model); :data:`RESOURCES`: the first four.

**Objective** (:meth:`cosearch.evaluator.Evaluator.objective`): LUT-equivalents ``LUT + FF + 402
BRAM + 536 DSP``, each resource weighted by its scarcity on the project's ECP5 board, the
ULX3S-85F (LFE5U-85F: 83,640 LUT4 and as many FFs, 208 DP16KD, 156 MULT18X18D: 83640/208 = 402,
83640/156 = 536), so one LUT-equivalent is the same share of the device whatever resource it is.
"""


METRICS = ("LUT", "FF", "BRAM", "DSP", "cycles")
RESOURCES = METRICS[:4]
LUT_EQUIVALENTS = {"LUT": 1.0, "FF": 1.0, "BRAM": 402.0, "DSP": 536.0}
