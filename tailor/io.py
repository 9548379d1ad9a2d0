"""Output files that are either written whole or not at all, and the reading of small JSON
input files with one-line errors."""

import contextlib
import json
import os
import tempfile
from pathlib import Path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success move it into place, on error remove it.

    Commands write every output through this, so an error part-way never leaves a half-written
    file where the user expects a result.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path, error=None):
    """The JSON value in file ``path``. A missing or unreadable file raises ``error(rule)``
    (default: a :class:`~tailor.errors.TailorError` reading ``<path>: <rule>``)."""
    from .errors import TailorError
    error = error or (lambda rule: TailorError(f"{path}: {rule}"))
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise error("file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"is not a readable JSON file ({e})") from None
