"""The Tailor study, end to end: train a ResNet, derive the skip-removed and skip-shortened
students by distillation, export all three, simulate each accelerator's RTL against the
quantized PyTorch model bit for bit, synthesize each, build the bitstream of the best one, run
the three on the layer-serial PE array too (simulated bit for bit; cycles and off-chip traffic
per skip mode and bandwidth: :mod:`tailor.array_experiment`), and write a report folder.

``tailor demo`` runs it on the bundled digits data; ``tailor study`` on ResNet-8 at CIFAR-10
shape, with or without a local CIFAR-10 copy (without it, the hardware half runs on the
untrained network's structure and accuracy is reported as not measured).
"""

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import netdesc
from common.errors import TailorError
from rtl.array_program import ArrayConfig
from .study_report import write_report

VARIANTS = ("baseline", "removed", "shortened")
FALLBACK_BOARD = "ulx3s-85f"  # where a design too large for the iCEBreaker is built
# The PE array the study runs its variants on (on-chip memory, fused adds; the experiment
# varies memory and skip mode): 8 MACs, the iCE40UP5K's 8 DSP blocks.
ARRAY = ArrayConfig(4, 2, skips="fused")


@dataclass
class StudyConfig:
    model: str = "digits-small"
    data: str = "digits"  # "digits", "cifar10", "mnist", or None: hardware half only
    data_path: str = None
    input_shape: tuple = None  # with data None: the network's input [C, H, W]
    teacher_epochs: int = 30
    every: int = 5  # student epochs between two skip changes
    finetune: int = 5
    seed: int = 0
    sim_images: int = 4  # test images pushed through each accelerator's RTL
    targets: tuple = ("ice40", "ecp5")
    board: str = "icebreaker"  # None: no bitstream
    cap: int = 16  # MACs per cycle a layer gets at most (rtl.hwconfig's balanced default)
    limit_train: int = None
    limit_test: int = None
    tolerance_pt: float = 1.0  # accuracy a variant may lose and still be "best"
    notes: list = field(default_factory=list)


class _Stages:
    """Numbered progress lines: one a stage, with its duration."""

    def __init__(self, total, quiet):
        self.total, self.quiet, self.n = total, quiet, 0
        self.t0 = time.time()

    def __call__(self, text):
        self.n += 1
        if not self.quiet:
            print(f"[{self.n}/{self.total}] {text}  (t = {time.time() - self.t0:.0f} s)", flush=True)


def _models(cfg, data, out, stage, progress):
    """Train on ``data`` (or, when it is None, just build) the three variants; returns
    ``{variant: (model, accuracy or None)}``."""
    import torch

    from nn import DistillConfig, TrainConfig, make_model, tailor_optimize
    from nn.train import evaluate, train_teacher

    torch.set_num_threads(1)  # two cores: leave one for the simulator and Yosys
    if cfg.data is None:
        stage(f"building the untrained {cfg.model} variants (no data set: accuracy not measured)")
        torch.manual_seed(cfg.seed)
        models = {}
        for v in VARIANTS:
            model = make_model(cfg.model, cfg.input_shape, 8, 8)
            for block in model.blocks:
                if v == "removed":
                    block.remove_skips()
                elif v == "shortened" and block.can_shorten:
                    block.shorten()
            _calibrate(model, cfg.input_shape, cfg.seed)
            models[v] = (model, None)
        return models

    stage(f"training the {cfg.model} teacher on {cfg.data} ({cfg.teacher_epochs} epochs)")
    tcfg = TrainConfig(model=cfg.model, data=cfg.data, data_path=cfg.data_path,
                       epochs=cfg.teacher_epochs, seed=cfg.seed, limit_train=cfg.limit_train,
                       limit_test=cfg.limit_test)
    teacher, _ = train_teacher(tcfg, data, progress=progress, checkpoint=out / "models" / "teacher.pt")
    models = {"baseline": (teacher, evaluate(teacher, data))}
    for mode, v in (("remove", "removed"), ("shorten", "shortened")):
        stage(f"Tailor: {mode} the skips, distilling from the teacher")
        dcfg = DistillConfig(mode=mode, every=cfg.every, finetune=cfg.finetune, seed=cfg.seed)
        student, _ = tailor_optimize(teacher, data, dcfg, progress=progress,
                                     checkpoint=out / "models" / f"{v}.pt", teacher_config=asdict(tcfg))
        models[v] = (student, evaluate(student, data))
    return models


def _calibrate(model, shape, seed):
    """Give an untrained model's activation quantizers their ranges from a few random batches
    (train-mode forward passes observe them), so it exports to a valid netdesc."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (16, *shape), generator=gen, dtype=torch.uint8)
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(x)
    model.eval()


def _sim_check(net, hw, images, stage_progress):
    """Simulate ``images`` through the RTL; compare with the quantized PyTorch model."""
    from nn.train import integer_logits
    from rtl.network import NetworkTop
    from rtl.sim import simulate_top

    top = NetworkTop(net, hw)
    result = simulate_top(top, netdesc.check_input(net, images), progress=stage_progress)
    expected = integer_logits(net, images).numpy()
    mismatched = int(np.sum(result.outputs != expected))
    if mismatched:
        raise TailorError(f"{net.name}: the RTL simulation differs from the quantized PyTorch model "
                          f"in {mismatched} output values on {len(images)} images")
    skip_fifos = [r for r in top.fifo_report if r.kind == "skip"]
    return top, result, {
        "sim_images": len(images), "bit_exact": True,
        "cycles_per_inference": result.steady_state_cycles or result.cycles_per_inference,
        "latency_cycles": result.cycles_per_inference,
        "sim_backend": result.backend, "sim_versions": result.versions,
        "sim_cycles_per_second": round(result.cycles_per_second),
        "skip_fifo_bits": {"minimal": sum(r.bits for r in skip_fifos),
                           "full_map": sum(r.feature_map_bits for r in skip_fifos)},
        "skip_fifos": [{"add": r.add, "depth": r.depth, "bits": r.bits,
                        "feature_map_depth": r.feature_map_depth,
                        "feature_map_bits": r.feature_map_bits} for r in skip_fifos],
        "rate_fifo_bits": sum(r.bits for r in top.fifo_report if r.kind != "skip"),
    }


def _array_study(nets, images):
    """The variants on the PE array (:data:`ARRAY`): each simulated on ``images`` against the
    quantized PyTorch model, and the Tailor experiment (:func:`tailor.array_experiment.measure`)."""
    from nn.train import integer_logits
    from rtl.pe_array import ArrayTop
    from rtl.sim import simulate_top

    from .array_experiment import measure

    simulated = {}
    for name, net in nets.items():
        result = simulate_top(ArrayTop(net, ARRAY), netdesc.check_input(net, images))
        mismatched = int(np.sum(result.outputs != integer_logits(net, images).numpy()))
        if mismatched:
            raise TailorError(f"{net.name}: the PE array's simulation differs from the quantized "
                              f"PyTorch model in {mismatched} output values on {len(images)} "
                              f"images")
        simulated[name] = {"cycles_per_inference": result.steady_state_cycles
                           or result.cycles_per_inference, "bit_exact": True}
    return {**measure(nets, ARRAY), "simulated": simulated}


def _array_bitstream(variant, net, board, out, notes):
    """Build ``net`` on the PE array (:data:`ARRAY`) for ``board``; ``None``, and a note with
    the figures, when it does not fit."""
    from platforms.build import DoesNotFit, build
    from rtl.hwconfig import HwConfig

    try:
        result = build(net, board, out / "bitstream" / f"{board}-array" / variant, arch="array",
                       hw=HwConfig(array=ARRAY))
    except DoesNotFit as e:
        notes.append(f"'{net.name}' on the PE array: {e}.")
        return None
    return {"variant": variant, "board": result.board, "fmax_mhz": result.fmax_mhz,
            "clock_mhz": result.clock_mhz, "utilisation": result.utilisation,
            "critical_path": result.critical_path,
            "file": f"bitstream/{board}-array/{variant}/{result.bitstream}",
            "seconds": round(result.seconds, 1), "versions": result.versions}


def _synth(net, top, workdirs):
    """``{target: resources}`` of ``net``'s accelerator ``top`` for each ``{target: workdir}``
    (side by side), and the tool versions."""
    from platforms.synth import synthesize_net_targets

    reports = synthesize_net_targets(net, workdirs, top=top)
    resources = {}
    for target, report in reports.items():
        j = report.to_json()
        in_logic = [m.path for m in report.memories if m.in_logic]
        resources[target] = {**j["total"], "per_layer": j["layers"],
                             "seconds": j["synthesis_seconds"], "memories_in_logic": in_logic}
    return resources, j["versions"]


def _best(variants, targets, tolerance_pt):
    """The variant with the fewest LUT + FF on the first target among those within
    ``tolerance_pt`` accuracy points of the baseline (all of them when accuracy is unknown)."""
    base = variants[0].get("accuracy")
    ok = [v for v in variants
          if base is None or v["accuracy"] is None or v["accuracy"] >= base - tolerance_pt / 100]
    first = targets[0]
    return min(ok, key=lambda v: v["resources"][first]["LUT"] + v["resources"][first]["FF"])


def run_study(cfg, out_dir, progress=True, title=None):
    """Run the study of ``cfg`` into ``out_dir``; returns the path of ``report.md``."""
    from nn.export import export_netdesc
    from rtl.hwconfig import HwConfig

    from nn import load_dataset

    # Read the data first: a missing or malformed copy fails before anything is written.
    data = (None if cfg.data is None else
            load_dataset(cfg.data, cfg.data_path, cfg.limit_train, cfg.limit_test))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trained = data is not None
    stage = _Stages((3 if trained else 1) + 2 * len(VARIANTS) + (2 if cfg.board else 0) + 2,
                    quiet=not progress)
    models = _models(cfg, data, out, stage, progress)
    if data is not None:
        images = data.x_test[:cfg.sim_images]
    else:
        rng = np.random.default_rng(cfg.seed)
        images = rng.integers(0, 256, size=(cfg.sim_images, *cfg.input_shape))

    variants, versions, nets, hws = [], {}, {}, {}
    for v in VARIANTS:
        model, acc = models[v]
        net = export_netdesc(model, out / "netdesc" / f"{v}.json", name=f"{cfg.model}-{v}")
        hw = HwConfig.default(net, cap=cfg.cap)
        nets[v], hws[v] = net, hw
        stage(f"{v}: simulating the RTL on {len(images)} images against the PyTorch integer model")
        top, _, sim = _sim_check(net, hw, images, progress)
        stage(f"{v}: synthesizing for {', '.join(cfg.targets)}")
        resources, versions = _synth(net, top, {t: out / "synth" / f"{v}-{t}"
                                                for t in cfg.targets})
        variants.append({"name": v, "accuracy": acc, "skips": model.skip_code(),
                         "add_layers": len(netdesc.skips(net)),
                         "resources": resources, "fmax_mhz": None,
                         "parallelism": dict(hw.parallelism), **sim})

    bitstream, build_notes = None, []
    if cfg.board:
        best = _best(variants, cfg.targets, cfg.tolerance_pt)
        stage(f"building the {cfg.board} bitstream of the best variant, '{best['name']}'")
        result, folded = _bitstream(nets[best["name"]], hws[best["name"]], cfg.board, out,
                                    build_notes)
        best["fmax_mhz"] = round(result.fmax_mhz, 1)
        bitstream = {"variant": best["name"], "board": result.board, "file": result.bitstream,
                     "fmax_mhz": result.fmax_mhz, "clock_mhz": result.clock_mhz,
                     "utilisation": result.utilisation, "seconds": round(result.seconds, 1),
                     "critical_path": result.critical_path,
                     "folded": None if folded is None else {
                         "parallelism": folded.hw.parallelism,
                         "logic_multipliers": folded.hw.logic_multipliers,
                         "cycles_per_inference": folded.timing.steady}}
        versions = {**versions, **result.versions}

    stage(f"the PE array: simulating the three variants on {len(images)} images, its cycles "
          f"and off-chip traffic per skip mode and bandwidth")
    array = _array_study(nets, images)
    if cfg.board:
        stage(f"building the {cfg.board} bitstreams of the three variants on the PE array")
        notes = {v: [] for v in nets}
        # The threads only wait: Yosys and nextpnr run in processes of their own.
        with ThreadPoolExecutor(min(len(nets), os.cpu_count() or 1)) as pool:
            built = list(pool.map(lambda v: _array_bitstream(v, nets[v], cfg.board, out,
                                                             notes[v]), nets))
        build_notes += [note for v in nets for note in notes[v]]
        array["bitstreams"] = [b for b in built if b]
        for b in array["bitstreams"]:
            versions = {**versions, **b.pop("versions")}

    stage("writing the report")
    study = {
        "title": title or f"Tailor study: {cfg.model} on {cfg.data or 'no data (hardware only)'}",
        "summary": _summary(cfg, variants, bitstream, data),
        "targets": list(cfg.targets), "config": {k: v for k, v in asdict(cfg).items() if k != "notes"},
        "variants": variants, "bitstream": bitstream, "array": array,
        "tool_versions": versions,
        "notes": list(cfg.notes) + build_notes + _notes(variants, trained),
    }
    return write_report(out, study)


def _bitstream(net, hw, board, out, notes):
    """Build ``net`` for ``board``, folded for its device (:mod:`platforms.fold`); a design that
    does not fit it at any folding is built at ``hw`` (with that device's MAC registers) for
    the larger :data:`FALLBACK_BOARD` instead, and ``notes`` says so with the figures. Returns
    the build result and the folding (None when not folded)."""
    from platforms.build import DoesNotFit, build
    from platforms.fold import device_for, fold, for_device, synthesizer

    if board != FALLBACK_BOARD:
        device = device_for(board=board)
        try:
            with tempfile.TemporaryDirectory(prefix="tailor-fold-") as work:
                folded = fold(net, device, synthesizer(net, device.target, work))
            return build(net, board, out / "bitstream" / board, hw=folded.hw), folded
        except DoesNotFit as e:
            notes.append(f"'{net.name}' on {board}: {e}. Built for {FALLBACK_BOARD} instead.")
    hw = for_device(net, hw, device_for(board=FALLBACK_BOARD))
    return build(net, FALLBACK_BOARD, out / "bitstream" / FALLBACK_BOARD, hw=hw), None


def _summary(cfg, variants, bitstream, data):
    parts = []
    if data is not None:
        parts.append(f"Trained on {cfg.data} ({len(data.y_train)} training / {len(data.y_test)} test "
                     f"images); accuracy is the exported integer network's on the test set.")
    else:
        parts.append("No data set: the networks are untrained (random weights), so accuracy is "
                     "not measured; the hardware figures depend only on the structure.")
    parts.append(f"Each accelerator was simulated ({variants[0]['sim_backend']} backend) on "
                 f"{variants[0]['sim_images']} images and matched the quantized PyTorch model bit "
                 "for bit. Cycles per inference: steady state between back-to-back inferences, "
                 "measured in simulation.")
    if bitstream:
        parts.append(f"Bitstream: '{bitstream['variant']}' for {bitstream['board']}, "
                     f"Fmax {bitstream['fmax_mhz']:.1f} MHz (board clock {bitstream['clock_mhz']:.0f} MHz), "
                     f"{bitstream['file']}.")
        if bitstream.get("critical_path"):
            from platforms.critical_path import CriticalPath
            parts.append(f"Its {CriticalPath(**bitstream['critical_path']).text()}.")
        folded = bitstream.get("folded")
        if folded:
            parts.append(f"Folded for the board: {folded['cycles_per_inference']:,} cycles per "
                         f"inference, MACs per cycle per layer "
                         + ", ".join(f"{k} {v}" for k, v in folded["parallelism"].items()) + ".")
    return " ".join(parts)


def _notes(variants, trained):
    notes = []
    for v in variants:
        for target, res in v["resources"].items():
            in_logic = res.get("memories_in_logic", [])
            if in_logic:
                notes.append(f"{v['name']} / {target}: {len(in_logic)} small memories fell into "
                             f"LUTs / FFs instead of RAM: {', '.join(in_logic)}.")
    if not trained:
        notes.append("Accuracy: not measured (no data set given).")
    return notes
