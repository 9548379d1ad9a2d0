"""Integer arrays from ``.npy`` and ``.npz`` files, checked before anything is allocated.

numpy trusts an array file's header: a header that declares a huge shape makes ``np.load``
allocate it (a 50-byte file asked for 46 TiB), and a damaged archive fails with whatever
exception its decompressor raises. These readers check the header's dtype and shape against
the bytes the file really holds and against :data:`MAX_ARRAY_BYTES` first, and turn every
failure into one :class:`NetdescError` naming the file.
"""

import zipfile

import numpy as np
from numpy.lib import format as npy

from common.errors import reason

from .errors import NetdescError

MAX_ARRAY_BYTES = 1 << 30
_ZIP_MAGIC = b"PK\x03\x04"


def _size(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024


def _header(f, source):
    """``(shape, fortran_order, dtype)`` from the NPY header at ``f``'s position."""
    version = npy.read_magic(f)
    if version == (1, 0):
        return npy.read_array_header_1_0(f)
    if version == (2, 0):
        return npy.read_array_header_2_0(f)
    raise NetdescError(source, f"NPY format version {version[0]}.{version[1]} is not supported "
                               f"(numpy writes 1.0 or 2.0)")


def _check_header(header, available, source, cap=MAX_ARRAY_BYTES):
    """The declared array is an integer array that fits the ``available`` bytes and ``cap``;
    returns its size in bytes."""
    shape, _, dtype = header
    if dtype.kind not in "iu":  # objects (pickles), records and floats alike
        raise NetdescError(source, f"must be an integer array (its dtype is {dtype})")
    if any(d < 0 for d in shape):
        raise NetdescError(source, f"declares an invalid shape {list(shape)}")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > cap:
        raise NetdescError(source, f"declares shape {list(shape)} {dtype}, {_size(nbytes)}; "
                                   f"tailor reads up to {_size(MAX_ARRAY_BYTES)} of arrays from "
                                   f"one file")
    if nbytes > available:
        raise NetdescError(source, f"declares shape {list(shape)} {dtype} ({_size(nbytes)}) but "
                                   f"holds only {_size(available)} of data (truncated?)")
    return nbytes


def read_npy(path):
    """The integer array in the ``.npy`` file ``path``."""
    try:
        with open(path, "rb") as f:
            if f.read(4) == _ZIP_MAGIC:
                raise NetdescError(path, "is an .npz archive, not an .npy array")
            f.seek(0)
            header = _header(f, path)
            start = f.tell()
            _check_header(header, f.seek(0, 2) - start, path)
            f.seek(0)
            return npy.read_array(f, allow_pickle=False)
    except FileNotFoundError:
        raise NetdescError(path, "file not found") from None
    except NetdescError:
        raise
    except Exception as e:  # numpy's header parser and zipfile raise a dozen types on bad bytes
        raise NetdescError(path, f"is not a readable .npy array ({reason(e)})") from None


def read_npz(path):
    """The integer arrays of the ``.npz`` archive ``path``, by name."""
    arrays, left = {}, MAX_ARRAY_BYTES
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename.removesuffix(".npy")
                where = f"{path}: array '{name}'"
                with z.open(info) as f:
                    left -= _check_header(_header(f, where), info.file_size, where, cap=left)
                    f.seek(0)
                    arrays[name] = npy.read_array(f, allow_pickle=False)
    except FileNotFoundError:
        raise NetdescError(path, "file not found") from None
    except NetdescError:
        raise
    except Exception as e:  # as in read_npy, and zlib / zipfile errors of damaged archives
        raise NetdescError(path, f"is not a readable .npz file ({reason(e)})") from None
    return arrays

