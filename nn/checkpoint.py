"""Checkpoints: ``torch.save`` of a model's spec, skip state and weights plus the run's config,
progress and metrics, so a run can be resumed or exported later.

A checkpoint is a dict of plain Python values and tensors (loadable with ``weights_only=True``):
``format``, ``kind`` (``"train"`` or ``"optimize"``), ``model`` (see :func:`model_record`),
``config``, ``epoch`` (epochs completed), ``optimizer`` (state dict), ``metrics``, and for
``optimize`` runs the ``teacher`` record.
"""

import pickle
import struct
import zipfile
from pathlib import Path

import torch

from tailor.errors import TailorError
from tailor.io import atomic_path

from .models import build_model

FORMAT = "tailor-nn-checkpoint-1"


def model_record(model):
    return {"spec": dict(model.spec), "skips": model.skip_state(), "state_dict": model.state_dict()}


def model_from_record(record):
    model = build_model(record["spec"])
    model.set_skip_state(record["skips"])
    model.load_state_dict(record["state_dict"])
    return model


def save_checkpoint(path, checkpoint):
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **checkpoint}, tmp)


def load_checkpoint(path, kind=None):
    """Read a checkpoint (of ``kind`` if given), or raise a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise TailorError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile,
            struct.error, ValueError, KeyError, TypeError, AttributeError) as e:
        raise TailorError(f"{path}: not a readable checkpoint ({(str(e).splitlines() or [e.__class__.__name__])[0]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise TailorError(f"{path}: not a tailor checkpoint (written by `tailor train` or `tailor optimize`)")
    if kind is not None and ckpt["kind"] != kind:
        raise TailorError(f"{path}: is a '{ckpt['kind']}' checkpoint, expected '{kind}'")
    return ckpt
