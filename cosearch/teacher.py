"""The co-search's teacher, which is also its baseline: every skip kept, the widest widths,
8-bit weights and activations (for the digits space, the digits-small network ``tailor train``
makes); loaded from a checkpoint and checked to be that network, or trained from scratch.
"""

from common.errors import TailorError

from .search_points import baseline_arch


def load_teacher(path, space, data, epochs=30, seed=0, log=print):
    """The teacher, which is also the baseline: the checkpoint at ``path`` (``tailor train`` /
    ``tailor optimize``; it must be the baseline's network,
    :func:`cosearch.search_points.baseline_arch`), else the
    baseline trained from scratch as ``tailor train`` trains (cross-entropy, its defaults)."""
    import torch

    from nn.checkpoint import load_checkpoint, model_from_record
    from nn.train import TrainConfig, cross_entropy, evaluate, fit

    arch = baseline_arch(space)
    if path is not None:
        model = model_from_record(load_checkpoint(path)["model"])
        if not is_network_of(model, space, arch):
            raise TailorError(f"{path}: the teacher must be the space's baseline (family "
                              f"'{space.model}', all skips kept, widest widths, 8-bit), this is a "
                              f"'{model.spec['arch']}' with skips '{model.skip_code()}'")
    else:
        log(f"cosearch: training the teacher (the baseline, {epochs} epochs)")
        torch.manual_seed(seed)
        model = space.build_model(arch)
        fit(model, data, epochs, TrainConfig.lr, TrainConfig.batch_size, seed, cross_entropy,
            progress=False)
    model.eval()
    log(f"cosearch: teacher integer test accuracy {evaluate(model, data):.4f}")
    return model


def is_network_of(model, space, arch):
    """Whether ``model`` is the network of architecture ``arch``: family, input, widths, every
    layer's bits and the skip states."""
    from nn.models import layer_bits, widths

    spec = space.model_spec(arch)
    same = all(model.spec.get(k) == spec[k] for k in ("arch", "input_shape", "input_bits",
                                                      "input_frac", "classes", "logit_bits"))
    return (same and widths(model.spec) == widths(spec)
            and all(layer_bits(model.spec, n) == layer_bits(spec, n) for n in space.layers)
            and model.skip_state() == space.skip_states(arch))
