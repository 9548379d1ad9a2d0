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

from common.errors import TailorError, reason
from common.io import serialized, write_bytes

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
    write_bytes(path, serialized(lambda f: torch.save({"format": FORMAT, **checkpoint}, f)))


# What a damaged model record raises when it is rebuilt (a spec of other keys or types, a
# state dict of other shapes).
_RECORD_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError)
_KEYS = {"train": ("model", "config", "epoch", "optimizer", "metrics"),
         "optimize": ("model", "config", "epoch", "optimizer", "metrics", "teacher",
                      "teacher_config")}


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
    if ckpt.get("kind") not in _KEYS:
        raise TailorError(f"{path}: is damaged: its kind is neither 'train' nor 'optimize'")
    if kind is not None and ckpt["kind"] != kind:
        raise TailorError(f"{path}: is a '{ckpt['kind']}' checkpoint, expected '{kind}'")
    missing = [key for key in _KEYS[ckpt["kind"]] if key not in ckpt]
    if missing or not isinstance(ckpt["config"], dict) or not isinstance(ckpt["metrics"], dict):
        raise TailorError(f"{path}: is damaged: "
                          + (f"it lacks '{missing[0]}'" if missing else "config or metrics"))
    for key in ("model", "teacher") if ckpt["kind"] == "optimize" else ("model",):
        try:
            model_from_record(ckpt[key])
        except _RECORD_ERRORS as e:
            raise TailorError(f"{path}: its {key} record is damaged and builds no model "
                              f"({reason(e)})") from None
    return ckpt
