"""Data sets as integer image tensors: scikit-learn's digits (bundled), CIFAR-10 and MNIST.

Every loader returns a :class:`Dataset` whose images are the integers the accelerator receives
(``uint8`` arrays ``[N, C, H, W]``) together with their type (``input_bits``, unsigned) and the
fixed-point position ``input_frac``: the network sees ``x · 2^-input_frac``. CIFAR-10 and MNIST
are read from a local copy in their standard formats (nothing is downloaded); a missing or
malformed file raises a one-line :class:`~common.errors.TailorError` naming the file.
"""

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import TailorError

DATASETS = ("digits", "cifar10", "mnist")
# What a network for each data set takes: image shape [C, H, W], unsigned pixel bits, pixel frac.
INPUTS = {"digits": ((1, 8, 8), 5, 4), "cifar10": ((3, 32, 32), 8, 8), "mnist": ((1, 28, 28), 8, 8)}
DIGITS_TEST_SIZE = 360  # of 1797 images; the split is fixed (seeded permutation)


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # uint8 [N, C, H, W]
    y_train: np.ndarray  # int64 [N]
    x_test: np.ndarray
    y_test: np.ndarray
    input_bits: int  # the images are unsigned input_bits-bit integers
    input_frac: int  # real value = integer · 2^-input_frac
    classes: int = 10

    @property
    def shape(self):
        return tuple(self.x_train.shape[1:])


def load_dataset(name="digits", path=None, limit_train=None, limit_test=None):
    """Load data set ``name`` (one of :data:`DATASETS`); ``path`` is the local folder holding
    CIFAR-10 or MNIST. ``limit_train`` / ``limit_test`` keep only the first examples."""
    if name == "digits":
        if path is not None:
            raise TailorError("the digits data set is bundled with scikit-learn and takes no path")
        data = load_digits()
    elif name in ("cifar10", "mnist"):
        if path is None:
            raise TailorError(f"data set '{name}' needs the path of a local copy (--data-path)")
        data = load_cifar10(path) if name == "cifar10" else load_mnist(path)
    else:
        raise TailorError(f"unknown data set '{name}' (known: {', '.join(DATASETS)})")
    if limit_train is not None:
        data.x_train, data.y_train = data.x_train[:limit_train], data.y_train[:limit_train]
    if limit_test is not None:
        data.x_test, data.y_test = data.x_test[:limit_test], data.y_test[:limit_test]
    return data


def load_digits():
    """The 8×8 digits: pixels 0..16 kept as unsigned 5-bit integers (1.0 = 16, so frac 4)."""
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    x = d.images.astype(np.uint8)[:, None]  # the bundled pixels are already integers
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[:DIGITS_TEST_SIZE], order[DIGITS_TEST_SIZE:]
    _, bits, frac = INPUTS["digits"]
    return Dataset("digits", x[train], y[train], x[test], y[test], input_bits=bits, input_frac=frac)


def _existing(folder, name):
    path = Path(folder) / name
    if not path.is_file():
        raise TailorError(f"{path}: file not found")
    return path


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR-10 batches contain: dicts, lists, bytes and numpy arrays.

    The batches are pickles; refusing every other global keeps a tampered file from running
    code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")
        return super().find_class(module, name)


def _cifar_batch(path):
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, OSError) as e:
        raise TailorError(f"{path}: not a CIFAR-10 python batch ({e.__class__.__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise TailorError(f"{path}: not a CIFAR-10 python batch (expected a dict, got {type(obj).__name__})")
    data = obj.get(b"data", obj.get("data"))
    labels = obj.get(b"labels", obj.get("labels"))
    if data is None or labels is None:
        raise TailorError(f"{path}: CIFAR-10 batch lacks the 'data' or 'labels' entry")
    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        raise TailorError(f"{path}: CIFAR-10 'data' must be uint8 [N, 3072] "
                          f"(got {data.dtype} {list(data.shape)})")
    if labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu" \
            or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise TailorError(f"{path}: CIFAR-10 'labels' must be {data.shape[0]} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(path):
    """CIFAR-10 from the python version's folder (``data_batch_1..5``, ``test_batch``), or from
    a folder containing ``cifar-10-batches-py``. Pixels are unsigned 8-bit (frac 8)."""
    folder = Path(path)
    if not folder.is_dir():
        raise TailorError(f"{folder}: CIFAR-10 folder not found")
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    train = [_cifar_batch(_existing(folder, f"data_batch_{i}")) for i in range(1, 6)]
    xt, yt = _cifar_batch(_existing(folder, "test_batch"))
    return Dataset("cifar10", np.concatenate([x for x, _ in train]),
                   np.concatenate([y for _, y in train]), xt, yt, *INPUTS["cifar10"][1:])


def _read_idx(folder, stem, ndim):
    """An idx file (``stem`` or ``stem.gz``) of unsigned bytes with ``ndim`` dimensions."""
    folder = Path(folder)
    path = folder / stem
    if not path.is_file():
        path = folder / f"{stem}.gz"
        if not path.is_file():
            raise TailorError(f"{folder / stem}: file not found (nor {path.name})")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise TailorError(f"{path}: cannot be read ({e.__class__.__name__}: {e})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise TailorError(f"{path}: too short for an idx header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != 0x0800 + ndim:
        raise TailorError(f"{path}: not an idx file of {ndim}-D unsigned bytes "
                          f"(magic 0x{magic:08x}, expected 0x{0x0800 + ndim:08x})")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise TailorError(f"{path}: header says {dims} ({expected} bytes) but the file has {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _mnist_split(folder, prefix):
    x = _read_idx(folder, f"{prefix}-images-idx3-ubyte", 3)
    y = _read_idx(folder, f"{prefix}-labels-idx1-ubyte", 1)
    if len(x) != len(y):
        raise TailorError(f"{Path(folder) / prefix}-*: {len(x)} images but {len(y)} labels")
    if y.size and y.max() > 9:
        raise TailorError(f"{Path(folder) / prefix}-labels-idx1-ubyte: label {y.max()} is not in 0..9")
    return x[:, None].copy(), y.astype(np.int64)


def load_mnist(path):
    """MNIST from its four idx files (optionally ``.gz``). Pixels are unsigned 8-bit (frac 8)."""
    folder = Path(path)
    if not folder.is_dir():
        raise TailorError(f"{folder}: MNIST folder not found")
    x, y = _mnist_split(folder, "train")
    xt, yt = _mnist_split(folder, "t10k")
    return Dataset("mnist", x, y, xt, yt, *INPUTS["mnist"][1:])

