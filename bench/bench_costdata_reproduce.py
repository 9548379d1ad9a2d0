"""Re-measure committed cost-data rows with today's flow and compare them field by field.

    .venv/bin/python bench/bench_costdata_reproduce.py                  # 3 rows spread over the file
    .venv/bin/python bench/bench_costdata_reproduce.py --rows 0,200,463 --simulate

Each chosen row of ``--data`` (default: the committed digits-ecp5 data) is measured again from
its point and replicate (same weights, same hardware config, same target) by
:func:`cosearch.costdata.measure`; every measured field (LUT, FF, BRAM, DSP, LUT-RAM, cycles,
FIFO bits, MACs, parameters, weight bits) must equal the committed one. A refactoring of the
flow that changes no hardware reproduces every row exactly; the bench prints each field side by
side and the number of rows that differ. Times and tool versions are not compared.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.table import format_table  # noqa: E402
from cosearch.costdata import read_rows, replicate_of  # noqa: E402
from cosearch.space import load_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("LUT", "FF", "BRAM", "DSP", "LUTRAM", "cycles", "latency_cycles", "skip_fifo_bits",
          "rate_fifo_bits", "macs", "parameters", "weight_bits")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT / "cosearch" / "data" / "digits-ecp5.jsonl"))
    ap.add_argument("--space", default=str(ROOT / "cosearch" / "spaces" / "digits.json"))
    ap.add_argument("--rows", default=None, help="row numbers, comma-separated (default: 3 spread)")
    ap.add_argument("--simulate", action="store_true", help="also simulate the RTL on 3 images")
    args = ap.parse_args()

    from cosearch.costdata import measure
    rows = [r for r in read_rows(args.data) if r.get("status") == "ok"]
    picks = ([int(n) for n in args.rows.split(",")] if args.rows
             else [0, len(rows) // 2, len(rows) - 1])
    space = load_space(args.space)
    table, differing = [], 0
    for n in picks:
        old = rows[n]
        obj = dict(space.to_json_obj(), target=old["target"])
        new = measure(obj, old["point"], index=old["index"], simulate=args.simulate,
                      replicate=replicate_of(old))
        if new["status"] != "ok":
            print(f"row {n}: failed now: {new['error']}")
            differing += 1
            continue
        same = all(new[f] == old[f] for f in FIELDS)
        differing += not same
        table.append([n, old["index"], replicate_of(old)] +
                     [f"{old[f]}" if new[f] == old[f] else f"{old[f]} -> {new[f]}"
                      for f in FIELDS] + ["same" if same else "DIFFERS"])
    print(format_table(["row", "design", "replicate", *FIELDS, "result"], table))
    print(f"\n{len(picks) - differing} of {len(picks)} committed rows reproduced exactly")


if __name__ == "__main__":
    main()
