"""``tailor costdata``: measure designs sampled from a space with the real flow (see
:mod:`cosearch.costdata`)."""

from common.argtypes import non_negative, output_file, positive, positive_number, seed


def register(sub):
    p = sub.add_parser("costdata", help="synthesize designs sampled from a design space",
                       description="Sample N points of SPACE, build each design (random weights of "
                                   "its bit widths), count its cycles with the timing model, "
                                   "synthesize it with Yosys and append one JSON line per design "
                                   "to --out. Designs already in --out are skipped, so a stopped "
                                   "run resumes; failures are recorded with their error "
                                   "(and measured again with --retry-failed).")
    p.add_argument("space", metavar="SPACE", help="design space file (JSON)")
    p.add_argument("--n", type=positive, required=True, help="designs to sample")
    p.add_argument("--out", required=True, metavar="DATA.jsonl", type=output_file, help="cost-data file (appended)")
    p.add_argument("--target", choices=("ice40", "ecp5", "xilinx"), default=None,
                   help="synthesis target (default: the space's)")
    p.add_argument("--jobs", type=positive, default=1, help="local worker processes (default 1)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run on this Dask scheduler (e.g. tcp://host:8786) instead of locally")
    p.add_argument("--seed", type=seed, default=0, help="sampling seed (default 0)")
    p.add_argument("--simulate-every", type=non_negative, default=10, metavar="K",
                   help="also simulate every K-th design to check the cycle count (0: never)")
    p.add_argument("--replicates", type=positive, default=1, metavar="R",
                   help="weight seeds per design (default 1); the LUT count moves a little with "
                        "the weights, the evaluator scores against the mean over seeds")
    p.add_argument("--replicate-every", type=positive, default=1, metavar="K",
                   help="give the extra seeds to every K-th design only (default 1: all; 2: "
                        "the evaluator's held-out designs)")
    p.add_argument("--timeout", type=positive_number, default=None, metavar="S",
                   help="stop a synthesis after S seconds (recorded as a failure)")
    p.add_argument("--retry-failed", action="store_true",
                   help="measure again the designs whose rows in --out are failures (after a "
                        "fix in the flow); their new rows replace the failed ones")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_costdata)


def cmd_costdata(args):
    from . import costdata
    from .space import load_space

    space = load_space(args.space)
    if args.target:
        space.target = args.target
    before, rows = costdata.run(space, args.n, args.out, args.jobs, args.dask, args.seed,
                                args.simulate_every, args.timeout, progress=not args.quiet,
                                replicates=args.replicates, replicate_every=args.replicate_every,
                                retry_failed=args.retry_failed)
    failed = [r for r in rows if r["status"] != "ok"]
    print(f"{args.out}: {len(rows)} measurements ({len(failed)} failed), "
          f"{before} already there")
    for r in failed[:5]:
        print(f"  failed #{r['index']}: {r['error'].splitlines()[0]}")
