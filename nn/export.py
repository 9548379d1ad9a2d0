"""Export a trained quantization-aware model to a netdesc (JSON + .npz).

The model's own dataflow (:meth:`nn.models.ResNet.dataflow`) is run with each layer's
``export`` instead of its ``forward``, in eval mode (batch norm folded with its running
statistics), so the netdesc holds exactly the integers the fake-quantized model computes with.
"""

import netdesc

from .quant import Ref


class NetdescBuilder:
    """Collects netdesc layer objects (tensors as numpy arrays) and validates them with
    :func:`netdesc.parse`."""

    def __init__(self, name, input_shape, input_bits):
        self.obj = {"format": "netdesc", "version": 1, "name": name,
                    "input": {"name": "input", "shape": list(input_shape), "bits": input_bits,
                              "signed": False},
                    "layers": [], "output": None}
        self.tensors = {}

    def append(self, layer, frac):
        """Add ``layer`` (weights / bias may be arrays) and return its output's :class:`Ref`."""
        layer = dict(layer)
        for key, suffix in (("weights", "w"), ("bias", "b")):
            if key in layer:
                self.tensors[f"{layer['name']}.{suffix}"] = layer[key]
                layer[key] = f"{layer['name']}.{suffix}"
        self.obj["layers"].append(layer)
        return Ref(layer["name"], frac, layer["signed"])

    def build(self, output, extra=None):
        obj = dict(self.obj, output=output, **(extra or {}))
        return netdesc.parse(obj, source=f"<export {self.obj['name']}>", tensors=self.tensors)

    def shape_of(self, name):
        return self.build(name).shape_of(name)

    def type_of(self, name):
        return self.build(name).type_of(name)


def to_netdesc(model, name=None, extra=None):
    """The integer network ``model`` computes in eval mode, as a validated :class:`netdesc.Netdesc`.

    ``extra`` adds top-level ``x-`` metadata; the model's spec and skip state are always recorded
    under ``x-tailor``.
    """
    spec = model.spec
    was_training = model.training
    model.eval()
    try:
        builder = NetdescBuilder(name or spec["arch"], spec["input_shape"], spec["input_bits"])
        out = model.dataflow(lambda layer, *a, **kw: layer.export(builder, *a, **kw),
                             Ref("input", spec["input_frac"], False))
    finally:
        model.train(was_training)
    meta = {"x-tailor": {"spec": spec, "skips": model.skip_state(), "logit_frac": out.frac}}
    return builder.build(out.name, extra={**meta, **(extra or {})})


def export_netdesc(model, path, name=None, extra=None):
    """Write ``model`` as ``path`` (JSON) plus ``path``'s ``.npz``; returns the netdesc."""
    net = to_netdesc(model, name, extra)
    netdesc.save(net, path)
    return net
