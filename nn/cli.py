"""``tailor train``, ``tailor optimize`` and ``tailor export``: the training side on the command line.

torch is imported inside the command functions so other commands start fast.
"""

import json
from pathlib import Path

from common.argtypes import (image_shape, integer, non_negative, number, output_file, positive,
                             positive_number, seed)
from common.errors import TailorError
from common.io import check_output_file
from common.table import format_table

from .data import DATASETS, INPUTS

MODEL_HELP = ("digits-small (default), resnet8, resnet20, or your own network: FILE.py:FUNC or "
              "package.module:FUNC, FUNC returning a torch.nn.Module (see the README)")


def register(sub):
    p = sub.add_parser("train", help="train a quantization-aware ResNet (the teacher)",
                       description="Train a ResNet with quantization-aware training (power-of-two "
                                   "scales) and write a checkpoint. Defaults: the small ResNet on the "
                                   "bundled digits data set.")
    p.add_argument("--model", default="digits-small", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--data", default="digits", choices=DATASETS)
    p.add_argument("--input-shape", type=image_shape, metavar="C,H,W",
                   help="the network's input; must be the data set's images (the default)")
    p.add_argument("--init-weights", metavar="STATE_DICT.pt",
                   help="start quantization-aware training from these float weights of your "
                        "network (a torch.save of its state_dict)")
    p.add_argument("--data-path", metavar="DIR", help="local copy of CIFAR-10 (python batches) or MNIST (idx files)")
    p.add_argument("--epochs", type=positive, default=30)
    p.add_argument("--batch-size", type=positive, default=32)
    p.add_argument("--lr", type=positive_number, default=3e-3)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--weight-bits", type=integer(2, 8), default=8, help="2..8")
    p.add_argument("--act-bits", type=integer(2, 8), default=8, help="2..8")
    p.add_argument("--no-skips", action="store_true", help="train without skip connections (baseline)")
    p.add_argument("--limit-train", type=positive, metavar="N", help="use only the first N training examples")
    p.add_argument("--limit-test", type=positive, metavar="N", help="use only the first N test examples")
    p.add_argument("--out", default="teacher.pt", metavar="CKPT", type=output_file, help="checkpoint to write (default: teacher.pt)")
    p.add_argument("--resume", metavar="CKPT",
                   help="continue the run in this checkpoint (its settings are kept; a larger --epochs extends it)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("capture", help="show how your PyTorch network maps to netdesc layers",
                       description="Trace MODEL (FILE.py:FUNC or package.module:FUNC) with torch.fx "
                                   "and print the layers it becomes and its residuals' skip "
                                   "switches, or the first node that cannot be mapped. Supported: "
                                   "Conv2d (+ BatchNorm2d) (+ ReLU), Linear, + / torch.add, "
                                   "MaxPool2d, AdaptiveAvgPool2d(1) / mean over H, W, flatten.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--input-shape", type=image_shape, required=True, metavar="C,H,W")
    p.add_argument("--init-weights", metavar="STATE_DICT.pt", help="check that these weights load")
    p.add_argument("--json", action="store_true", help="print the captured graph as JSON")
    p.set_defaults(func=cmd_capture)

    p = sub.add_parser("optimize", help="remove or shorten skips with knowledge distillation (Tailor)",
                       description="Starting from a trained teacher checkpoint, change one skip every "
                                   "EVERY epochs, input side first (remove: SkipRemover; shorten: "
                                   "SkipShortener; remove-all: all at once, a baseline), training the "
                                   "student with knowledge distillation from the teacher.")
    p.add_argument("--teacher", metavar="CKPT", help="checkpoint written by `tailor train`")
    p.add_argument("--mode", default="remove", choices=("remove", "shorten", "remove-all"))
    p.add_argument("--every", type=positive, default=5, help="epochs between skip changes")
    p.add_argument("--finetune", type=non_negative, default=5, help="extra epochs after the last change")
    p.add_argument("--alpha", type=number(0, 1), default=0.35, help="weight of the distillation term (0..1)")
    p.add_argument("--kd", default="mse", choices=("mse", "kl"), help="distillation loss")
    p.add_argument("--temperature", type=positive_number, default=4.0, help="temperature of --kd kl")
    p.add_argument("--lr", type=positive_number, default=3e-3)
    p.add_argument("--batch-size", type=positive, default=32)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--data-path", metavar="DIR", help="override the teacher's data path")
    p.add_argument("--out", default="student.pt", metavar="CKPT", type=output_file, help="checkpoint to write (default: student.pt)")
    p.add_argument("--resume", metavar="CKPT",
                   help="continue the run in this checkpoint (its settings and teacher are kept)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_optimize)

    p = sub.add_parser("export", help="export a checkpoint to a netdesc (JSON + .npz)",
                       description="Write the integer network of CKPT as NET.json + NET.npz. Unless "
                                   "--no-verify, first check on the test set that the PyTorch integer "
                                   "model equals the netdesc reference bit for bit and report "
                                   "accuracies and the fake-quant argmax agreement.")
    p.add_argument("checkpoint", metavar="CKPT")
    p.add_argument("--out", required=True, metavar="NET.json", type=output_file)
    p.add_argument("--name", help="network name (default: the architecture)")
    p.add_argument("--data-path", metavar="DIR", help="override the data path for verification")
    p.add_argument("--no-verify", action="store_true", help="skip the check on the test set")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_export)


def _print_history(history):
    print(format_table(["epoch", "skips", "loss", "test acc"],
                       [[h["epoch"], h["skips"], f"{h['loss']:.4f}", f"{h['test_acc']:.4f}"] for h in history]))


def cmd_train(args):
    from .train import TrainConfig, train_teacher

    data_shape = INPUTS[args.data][0]
    if args.input_shape is not None and args.input_shape != data_shape:
        raise TailorError(f"--input-shape {','.join(map(str, args.input_shape))} is not the "
                          f"{args.data} images' {','.join(map(str, data_shape))}")
    cfg = TrainConfig(model=args.model, data=args.data, data_path=args.data_path, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      weight_bits=args.weight_bits, act_bits=args.act_bits, skips=not args.no_skips,
                      limit_train=args.limit_train, limit_test=args.limit_test,
                      init_weights=args.init_weights)
    _, metrics = train_teacher(cfg, progress=not args.quiet, checkpoint=args.out, resume=args.resume)
    metrics["checkpoint"] = str(args.out)
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        _print_history(metrics["history"])
        print(f"\ntest accuracy: {metrics['test_acc']:.4f} (fake-quant), "
              f"{metrics['integer_test_acc']:.4f} (integer)\nwrote {args.out}")
    return 0


def cmd_capture(args):
    from .capture import capture, graph_table, instantiate, is_reference
    from .graphnet import residuals

    if not is_reference(args.model):
        raise TailorError(f"'{args.model}' is not FILE.py:FUNC or package.module:FUNC")
    graph = capture(instantiate(args.model, args.init_weights), args.input_shape, args.model)
    found = residuals(graph)
    if args.json:
        print(json.dumps(graph, indent=1))
        return 0
    print(format_table(["layer", "op", "input", "output", "detail"], graph_table(graph)))
    adds = sum(n["op"] == "add" for n in graph["nodes"])
    print(f"\n{len(graph['nodes'])} layers; {len(found)} of {adds} adds have skip switches")
    if found:
        print(format_table(["add", "main branch", "skip branch", "can shorten"],
                           [[r.add, " -> ".join(r.main), " -> ".join(r.skip) or "(identity)",
                             "yes" if r.can_shorten else "no"] for r in found]))
    return 0


def _teacher_data(teacher_config, data_path):
    from .train import TrainConfig, load_data

    if teacher_config is None:
        raise TailorError("the checkpoint does not record its data set (its teacher was trained "
                          "through the Python API); use --no-verify")
    cfg = TrainConfig(**teacher_config)
    if data_path is not None:
        cfg.data_path = data_path
    return load_data(cfg)


def cmd_optimize(args):
    from .checkpoint import load_checkpoint, model_from_record
    from .distill import DistillConfig, tailor_optimize

    cfg = DistillConfig(mode=args.mode, every=args.every, finetune=args.finetune, alpha=args.alpha,
                        kd=args.kd, temperature=args.temperature, lr=args.lr,
                        batch_size=args.batch_size, seed=args.seed).check()
    if args.resume is not None:
        ckpt = load_checkpoint(args.resume, kind="optimize")
        teacher, teacher_config = None, ckpt["teacher_config"]
    elif args.teacher is None:
        raise TailorError("give the teacher checkpoint (--teacher CKPT) or a run to --resume")
    else:
        ckpt = load_checkpoint(args.teacher, kind="train")
        teacher, teacher_config = model_from_record(ckpt["model"]), ckpt["config"]
    data = _teacher_data(teacher_config, args.data_path)
    student, metrics = tailor_optimize(teacher, data, cfg, progress=not args.quiet, checkpoint=args.out,
                                 resume=args.resume, teacher_config=teacher_config)
    metrics["checkpoint"] = str(args.out)
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        if cfg.mode == "shorten":
            kept = [b.label for b in student.blocks if b.form == "long" and b.skips_on[0]]
            if kept:
                print(f"kept as they are (no two convs on the main branch to shorten): {', '.join(kept)}")
        print(format_table(["skips", "epochs", "test acc"],
                           [[s["skips"], f"{s['first_epoch']}-{s['last_epoch']}", f"{s['test_acc']:.4f}"]
                            for s in metrics["stages"]]))
        print(f"\nteacher {metrics['teacher_test_acc']:.4f}, student {metrics['test_acc']:.4f} "
              f"(fake-quant), {metrics['integer_test_acc']:.4f} (integer)\nwrote {args.out}")
    return 0


def cmd_export(args):
    import netdesc

    from .checkpoint import load_checkpoint, model_from_record
    from .export import to_netdesc
    from .train import verify_export

    check_output_file(Path(args.out).with_suffix(".npz"))  # the netdesc's tensors go beside it
    ckpt = load_checkpoint(args.checkpoint)
    model = model_from_record(ckpt["model"])
    train_config = ckpt["config"] if ckpt["kind"] == "train" else ckpt["teacher_config"]
    metrics = ckpt["metrics"]
    extra = {"x-accuracy": {k: metrics.get(k) for k in ("test_acc", "integer_test_acc")},
             "x-checkpoint": Path(args.checkpoint).name}
    net = to_netdesc(model, args.name, extra)
    report = {"netdesc": str(args.out), "layers": len(net.layers),
              "adds": len(netdesc.skips(net)), "skips": model.skip_code()}
    if not args.no_verify:
        report.update(verify_export(model, net, _teacher_data(train_config, args.data_path)))
        if not report["bit_exact"]:
            raise TailorError(f"{args.checkpoint}: the integer model and the netdesc reference differ "
                              f"in {report['mismatched_logits']} logits; nothing written")
    netdesc.save(net, args.out)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"wrote {args.out} and {Path(args.out).with_suffix('.npz')}: {report['layers']} layers, "
              f"{report['adds']} adds, skips {report['skips']}")
        if not args.no_verify:
            print(f"integer model == netdesc reference on {report['test_images']} test images "
                  f"(bit-exact); accuracy {report['integer_test_acc']:.4f} integer, "
                  f"{report['fakequant_test_acc']:.4f} fake-quant; argmax agreement "
                  f"{report['argmax_agreement']:.4f}")
    return 0
