"""Measuring a chosen point with the real flow: its network exported
(:func:`nn.export.to_netdesc`) and measured by :func:`cosearch.costdata.measure_net` (the timing
model's cycles, the RTL simulation of ``sim_images`` test images bit-exact against
:func:`netdesc.run`, Yosys), with the evaluator's prediction recorded beside the measurement.
"""

from pathlib import Path

import numpy as np

from .search_points import predict, skip_summary


def measure_point(space, ev, point, model, accuracies, data, cfg, outdir, name):
    """Export ``model`` (``point``'s network), measure it with the real flow, write its netdesc
    and hardware config as ``outdir/name.json`` (+ ``.npz``) and ``outdir/name.hw.json``, and
    return its row: point, accuracy (the mean of ``accuracies``, one per training of the
    network; ``model``'s first), prediction, measurement."""
    import netdesc
    from nn.export import to_netdesc
    from rtl.hwconfig import save_hw

    from .costdata import error_text, measure_net

    net = to_netdesc(model, name=name)
    hw = space.hw_config(point, net)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    netdesc.save(net, outdir / f"{name}.json")
    save_hw(hw, outdir / f"{name}.hw.json")
    row = {"name": name, "point": point, "skips": skip_summary(space, point),
           "accuracy": float(np.mean(accuracies)), "accuracies": list(accuracies),
           "predicted": predict(space, ev, point)}
    seconds = {}
    try:
        row["measured"] = measure_net(net, hw, space.target, data.x_test[:cfg.sim_images],
                                      seconds=seconds)
        row["status"] = "ok"
    except Exception as e:  # a failed measurement is reported with its error, never dropped
        row.update(status="failed", error=error_text(e))
    row["seconds"] = seconds
    return row
