"""Files in and out: outputs written whole or not at all, to targets checked before the work,
and JSON inputs read within limits, each with a one-line error naming the file.

Every command writes its outputs through :func:`atomic_path` (or the ``write_*`` helpers over
it) and checks them first with :func:`check_output_file` / :func:`check_output_dir` (the
``tailor`` argument types do that when the command line is parsed), so a bad output path fails
in a second, not after an hour of simulation, and an error part-way never leaves a half-written
file where the user expects a result.
"""

import contextlib
import io
import json
import os
import re
import stat
import tempfile
from pathlib import Path

import numpy as np

from .errors import TailorError

# JSON inputs: netdescs with inline weights run to a few MB, so these limits only stop files no
# tool of ours writes, before they exhaust memory or Python's recursion limit (about 1,000 nested
# values in json and in every recursive walk after it).
MAX_JSON_BYTES = 256 << 20
MAX_JSON_DEPTH = 64
MAX_NUMBER_DIGITS = 1000  # Python refuses to convert integers of more than 4,300 digits

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
          (stat.S_ISSOCK, "a socket"))


def _kind(mode):
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _writable_folder(path, what):
    """Check that ``path``'s folder exists as a folder we can create files in, or can be made
    (its nearest existing ancestor is such a folder). Probes by creating and removing a file."""
    folder = path.parent
    while not folder.exists():
        if folder.is_symlink():  # a dangling link: mkdir would fail on it
            raise TailorError(f"{path}: cannot write {what}: '{folder}' is a broken link")
        folder = folder.parent
    if not folder.is_dir():
        raise TailorError(f"{path}: cannot write {what}: '{folder}' is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".tailor-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise TailorError(f"{path}: cannot write {what} in '{folder}' ({e.strerror})") from None


def check_output_file(path):
    """``path`` resolved through symbolic links, if a command may write its result there:
    a regular file (replaced) or a new name in a folder it can write to (made if missing).
    Refuses directories and device nodes (``/dev/null`` would be replaced by a file)."""
    path = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    if str(path) in ("", "."):
        raise TailorError("an output file name must not be empty")
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a missing folder, or a file as a folder
        mode = None
    except OSError as e:
        raise TailorError(f"{path}: cannot write the output ({e.strerror})") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise TailorError(f"{path}: is {_kind(mode)}; an output must be a regular file, which "
                          f"tailor replaces whole when the command succeeds")
    _writable_folder(path, "the output")
    return path


def check_output_dir(path):
    """``path`` if a command may write its output folder there: an existing folder or a new
    name in a folder it can write to."""
    path = Path(path)
    if str(path) == "":
        raise TailorError("an output folder name must not be empty")
    if path.exists() and not path.is_dir():
        raise TailorError(f"{path}: is a file; the output folder must be a folder")
    _writable_folder(path / "x", "into this folder")
    return path


@contextlib.contextmanager
def atomic_paths(*paths):
    """Yield one temporary path beside each of ``paths``; when the block succeeds, move them
    all into place, else remove them. The targets are checked first
    (:func:`check_output_file`); a failed write (a full disk, a file-size limit) is a
    :class:`TailorError` naming the target."""
    targets = [check_output_file(p) for p in paths]
    temps = []
    try:
        try:
            for path in targets:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix,
                                           dir=path.parent)
                os.close(fd)
                temps.append(Path(tmp))
                os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual
            yield temps
            for tmp, path in zip(temps, targets):
                os.replace(tmp, path)
        except OSError as e:  # name the target whose temporary file failed, if we know it
            target = {str(t): p for t, p in zip(temps, targets)}.get(str(e.filename), targets[0])
            raise TailorError(f"{target}: cannot write the output ({e.strerror or e})") from None
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path):
    """:func:`atomic_paths` for one file: yield a temporary path that becomes ``path`` when the
    block succeeds."""
    with atomic_paths(path) as (tmp,):
        yield tmp


def write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path, data):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def serialized(save):
    """The bytes ``save(file)`` writes (``np.save``, ``torch.save``, ...), made in memory.
    Outputs are serialized first and then written with :func:`write_bytes`: the libraries'
    own file writes can lose a failed write's error (numpy's did, on close)."""
    buffer = io.BytesIO()
    save(buffer)
    return buffer.getvalue()


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_LONG_NUMBER = re.compile(rf"\d{{{MAX_NUMBER_DIGITS + 1},}}")


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text, error):
    """The JSON value in ``text``; anything that is not JSON within the limits above raises
    ``error(rule)``: syntax (with line and column), nesting deeper than ``MAX_JSON_DEPTH``,
    numbers of more than ``MAX_NUMBER_DIGITS`` digits, NaN / Infinity."""
    bare = _STRING.sub('""', text)  # brackets and digits inside strings do not count
    if _LONG_NUMBER.search(bare):
        raise error(f"holds a number of more than {MAX_NUMBER_DIGITS} digits")
    codes = np.frombuffer(bare.encode("utf-8", "replace"), dtype=np.uint8)
    steps = ((codes == ord("[")) | (codes == ord("{"))).astype(np.int32) \
        - ((codes == ord("]")) | (codes == ord("}")))
    depth = int(np.cumsum(steps).max(initial=0))
    if depth > MAX_JSON_DEPTH:
        raise error(f"nests values {depth} deep; the limit is {MAX_JSON_DEPTH}")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise error(f"is not valid JSON ({e.msg}; line {e.lineno} column {e.colno})") from None
    except (ValueError, RecursionError) as e:
        raise error(f"is not valid JSON ({e})") from None


def read_text(path, error, limit=MAX_JSON_BYTES):
    """The UTF-8 text of file ``path`` of at most ``limit`` bytes, or ``error(rule)``."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise error("file not found") from None
    except OSError as e:
        raise error(f"cannot be read ({e.strerror or e})") from None
    if len(data) > limit:
        raise error(f"is larger than {limit >> 20} MiB, the limit for this input")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"is not UTF-8 text (byte {e.start})") from None


def read_json(path, error=None):
    """The JSON value in file ``path``, within :func:`parse_json`'s limits. A missing,
    unreadable or malformed file raises ``error(rule)`` (default: a
    :class:`~common.errors.TailorError` reading ``<path>: <rule>``)."""
    error = error or (lambda rule: TailorError(f"{path}: {rule}"))
    return parse_json(read_text(path, error), error)
