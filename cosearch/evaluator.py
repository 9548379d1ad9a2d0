"""The learned, differentiable hardware-cost evaluator (DANCE): a cost network
(:mod:`cosearch.cost_net`) and a hardware-generation network (:mod:`cosearch.hwgen_net`) over a
design space's relaxed encoding (one probability block per decision, one-hot or softmax), frozen
and differentiable with respect to the encoding; saved and loaded as one file
(:meth:`Evaluator.save`, :func:`load_evaluator`). Trained by
:func:`cosearch.evaluator_training.train_evaluator`; its objective and metrics are those of
:mod:`cosearch.cost_metrics`.
"""

from pathlib import Path

import numpy as np

from common.errors import TailorError

from .cost_metrics import LUT_EQUIVALENTS, METRICS, RESOURCES
from .cost_net import cost_net_class, smooth_max
from .features import FEATURES, Features
from .hwgen_net import hwgen_net_class

FORMAT = "tailor-evaluator"
VERSION = 1


class Evaluator:
    """A trained cost network + hardware-generation network for one space (see the module
    docstring). Build with :func:`cosearch.evaluator_training.train_evaluator` or
    :func:`load_evaluator`; eval mode, frozen (no parameter requires grad), differentiable with
    respect to the encoding."""

    def __init__(self, space, cost_net, hw_net, info=None, features=None):
        self.space = space
        self.features = features or Features(space)
        self.cost_net, self.hw_net = cost_net.eval(), hw_net.eval()
        for p in list(cost_net.parameters()) + list(hw_net.parameters()):
            p.requires_grad_(False)
        self.info = info or {}
        slices = space.slices()
        self.arch_slices = [s for d, s in slices if d.kind != "par"]
        self.par_units = [self.features.unit_names.index(d.target) for d, _ in slices
                          if d.kind == "par"]

    def cost(self, enc):
        """``{metric: Tensor[B]}`` in natural units for an encoding ``[B, encoding_size]``."""
        resources, cycles = self.cost_net(self.features(enc))
        out = {m: resources[:, i] for i, m in enumerate(RESOURCES)}
        out["cycles"] = cycles
        return out

    def hw_inputs(self, enc):
        """The hardware network's inputs, functions of the non-parallelism blocks only:
        ``(those blocks [B, A], log2(cycles at the largest option / budget) [B, L], existence
        [B, L])`` per layer with a parallelism decision. The parallelism blocks are made uniform
        before the features are taken, so the given ones do not enter."""
        import torch
        uniform = torch.cat([torch.full((enc.shape[0], s.stop - s.start), 1.0 / (s.stop - s.start),
                                        dtype=enc.dtype) if d.kind == "par" else enc[:, s]
                             for d, s in self.space.slices()], dim=1)
        every = self.features(uniform)
        fast = every[..., FEATURES.index("cycles_fast")]
        ratio = fast[:, self.par_units].clamp_min(1.0).log2() - smooth_max(fast).log2()[:, None]
        exists = every[:, self.par_units, FEATURES.index("exists")]
        return torch.cat([enc[:, s] for s in self.arch_slices], dim=1), ratio, exists

    def hw(self, enc):
        """``enc`` with every parallelism block replaced by the hardware network's softmax."""
        return self.with_par(enc, self.hw_net(*self.hw_inputs(enc)))

    def with_par(self, enc, blocks):
        """``enc`` with its parallelism blocks replaced by ``blocks`` (in decision order)."""
        import torch
        blocks = iter(blocks)
        parts = [next(blocks) if d.kind == "par" else enc[:, s] for d, s in self.space.slices()]
        return torch.cat(parts, dim=1)

    def budget(self, enc):
        """Cycles budget per design: cycles with every layer at its largest parallelism."""
        return smooth_max(self.features(enc)[..., FEATURES.index("cycles_fast")])

    @staticmethod
    def objective(costs):
        """LUT-equivalents per design (weights: :data:`LUT_EQUIVALENTS`), Tensor[B]."""
        return sum(LUT_EQUIVALENTS[m] * costs[m] for m in RESOURCES)

    def predict(self, enc):
        """:meth:`cost` of a numpy array of encodings, as numpy ``[B, len(METRICS)]`` rounded
        to whole numbers: every metric is a count, and rounding also removes the float noise
        that would break ties between designs of equal cycles (which layers often give)."""
        import torch
        with torch.no_grad():
            c = self.cost(torch.as_tensor(np.asarray(enc), dtype=torch.float32))
        return np.rint(np.stack([c[m].numpy() for m in METRICS], axis=1).astype(np.float64))

    def save(self, path):
        from common.io import serialized, write_bytes
        import torch
        state = {"format": FORMAT, "version": VERSION, "space": self.space.to_json_obj(),
                 "cost": self.cost_net.state_dict(),
                 "cost_shape": self.cost_net.shape_args, "hw": self.hw_net.state_dict(),
                 "hw_shape": self.hw_net.shape_args, "info": self.info}
        write_bytes(path, serialized(lambda f: torch.save(state, f)))


def build_nets(space, features, cost_shape, hw_shape):
    """The cost and hardware-generation networks of the given shapes, untrained."""
    CostNet, HwGenNet = cost_net_class(), hwgen_net_class()
    cost_net = CostNet(features.unit_types, **cost_shape)
    cost_net.shape_args = cost_shape
    hw_net = HwGenNet(**hw_shape)
    hw_net.shape_args = hw_shape
    return cost_net, hw_net


def load_evaluator(path):
    """An :class:`Evaluator` saved by :meth:`Evaluator.save`; one-line errors for a missing or
    unreadable file."""
    import torch
    from .space import parse_space
    if not Path(path).is_file():
        raise TailorError(f"{path}: file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle / zip errors of every kind: the file is not one of ours
        raise TailorError(f"{path}: is not a saved evaluator ({e.__class__.__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT \
            or state.get("version") != VERSION:
        raise TailorError(f"{path}: is not a {FORMAT} version {VERSION} file")
    missing = [k for k in ("space", "cost", "cost_shape", "hw", "hw_shape", "info")
               if k not in state]
    if missing:
        raise TailorError(f"{path}: is damaged: it lacks '{missing[0]}'")
    space = parse_space(state["space"], source=f"{path}: space")
    features = Features(space)
    try:
        cost_net, hw_net = build_nets(space, features, state["cost_shape"], state["hw_shape"])
        cost_net.load_state_dict(state["cost"])
        hw_net.load_state_dict(state["hw"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # missing entries, other shapes
        raise TailorError(f"{path}: its networks do not match this version of the evaluator "
                          f"({e.__class__.__name__}); train it again") from None
    return Evaluator(space, cost_net, hw_net, state["info"], features)
