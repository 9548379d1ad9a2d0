"""The training side: quantization-aware ResNets, the Tailor skip remover / shortener with
knowledge distillation, and export to netdesc.

Imports torch and netdesc only, and torch only when one of the names below is first used (so
`tailor`'s other commands start fast). The public API:

- :func:`nn.data.load_dataset` (digits, CIFAR-10, MNIST) -> :class:`nn.data.Dataset`
- :func:`nn.models.model_spec`, :func:`nn.models.build_model` -> :class:`nn.models.ResNet`
- :func:`nn.models.make_model` (a built-in model or the user's ``FILE.py:FUNC``, captured by
  :func:`nn.capture.capture`) -> :class:`nn.models.ResNet` or :class:`nn.graphnet.GraphNet`
- :func:`nn.train.train_teacher`, :func:`nn.train.evaluate`, :class:`nn.train.TrainConfig`
- :func:`nn.distill.tailor_optimize`, :class:`nn.distill.DistillConfig`,
  :func:`nn.distill.skip_schedule`
- :func:`nn.export.to_netdesc`, :func:`nn.export.export_netdesc`
- :class:`nn.intmodel.IntegerNet` (the integer network in PyTorch)
- :func:`nn.checkpoint.load_checkpoint`, :func:`nn.checkpoint.model_from_record`
"""

import importlib

_API = {
    "load_checkpoint": "checkpoint", "model_from_record": "checkpoint", "Dataset": "data",
    "load_dataset": "data", "DistillConfig": "distill", "skip_schedule": "distill",
    "tailor_optimize": "distill", "export_netdesc": "export", "to_netdesc": "export",
    "IntegerNet": "intmodel", "build_model": "models", "make_model": "models",
    "model_spec": "models",
    "TrainConfig": "train", "evaluate": "train", "train_teacher": "train",
}
__all__ = list(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'nn' has no attribute '{name}'")
    return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
