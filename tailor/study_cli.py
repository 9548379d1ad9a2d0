"""``tailor demo`` and ``tailor study``: the Tailor study from PyTorch to bitstream."""

from common.argtypes import image_shape, integer, output_dir, positive
from common.errors import TailorError

BOARDS = ("icebreaker", "ulx3s-85f")


def register(sub):
    p = sub.add_parser("demo", help="the whole flow on the bundled digits data (the README's main job)",
                       description="Train the digits ResNet, derive its skip-removed and "
                                   "skip-shortened students by distillation, export, simulate, "
                                   "synthesize (ice40, ecp5), build the iCEBreaker bitstream of the "
                                   "best, and write a report folder.")
    p.add_argument("--out", default="report", metavar="DIR", type=output_dir, help="report folder (default: report)")
    _common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("study", help="the Tailor study for a model family at its data set's shape",
                       description="Like demo, for --model at CIFAR-10 shape. Without --data the "
                                   "hardware half runs on the untrained networks and accuracy is "
                                   "reported as not measured.")
    p.add_argument("--model", default="resnet8", metavar="MODEL",
                   help="resnet8 (default), resnet20, digits-small, or your own network as "
                        "FILE.py:FUNC or package.module:FUNC")
    p.add_argument("--input-shape", type=image_shape, default=(3, 32, 32), metavar="C,H,W",
                   help="the input of the untrained networks without --data (default 3,32,32)")
    p.add_argument("--data", metavar="NAME:PATH",
                   help="a local data set copy, e.g. cifar10:/data/cifar-10-batches-py")
    p.add_argument("--out", default="report-study", metavar="DIR", type=output_dir)
    p.add_argument("--board", choices=BOARDS, default=None, help="also build a bitstream")
    _common(p)
    p.set_defaults(func=cmd_study)


def _common(p):
    p.add_argument("--epochs", type=positive, default=None, help="teacher epochs")
    p.add_argument("--sim-images", type=integer(2), default=None,
                   help="images simulated per accelerator (>= 2: the steady state is measured "
                        "between two inferences)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _overrides(cfg, args):
    if args.epochs is not None:
        cfg.teacher_epochs = args.epochs
    if args.sim_images is not None:
        cfg.sim_images = args.sim_images
    return cfg


def cmd_demo(args):
    from .study import StudyConfig, run_study

    # At most 4 MACs per layer and cycle: the hardware stays small enough to synthesize, place
    # and route in minutes, so the whole demo finishes within 15 minutes on two cores.
    report = run_study(_overrides(StudyConfig(cap=4), args), args.out, progress=not args.quiet,
                       title="Tailor demo: digits ResNet, baseline / removed / shortened skips")
    print(f"report: {report}")


def cmd_study(args):
    from .study import StudyConfig, run_study

    cfg = StudyConfig(model=args.model, data=None, input_shape=args.input_shape, board=args.board)
    if args.data:
        name, sep, path = args.data.partition(":")
        if not sep or name not in ("cifar10", "mnist") or not path:
            raise TailorError(f"--data must be cifar10:PATH or mnist:PATH (got {args.data!r})")
        cfg.data, cfg.data_path = name, path
    report = run_study(_overrides(cfg, args), args.out, progress=not args.quiet)
    print(f"report: {report}")
