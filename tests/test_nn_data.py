"""Data loaders: digits split, CIFAR-10 python batches and MNIST idx files written here in their
standard formats, and one-line errors on missing or malformed files."""

import gzip
import pickle

import numpy as np
import pytest

from nn.data import load_dataset
from common.errors import TailorError


def write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    raw = (0x0800 + array.ndim).to_bytes(4, "big")
    raw += b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def write_cifar(folder, rng, per_batch=3):
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data}, f)
        batches[name] = (data, labels)
    return batches


def write_mnist(folder, rng, gz):
    ext = ".gz" if gz else ""
    files = {}
    for prefix, n in (("train", 5), ("t10k", 3)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", y)
        files[prefix] = (x, y)
    return files


def test_digits_split_is_fixed_and_disjoint():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.x_train.shape[1:] == (1, 8, 8) and len(a.x_train) + len(a.x_test) == 1797
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert a.x_train.dtype == np.uint8 and a.x_train.max() == 16 and a.input_bits == 5
    assert a.x_train.max() <= (1 << a.input_bits) - 1
    assert len(a.x_test) == 360 and set(np.unique(a.y_test)) == set(range(10))
    # train + test is a permutation of the whole data set
    from sklearn.datasets import load_digits
    full = load_digits()
    def key(xs, ys):
        return sorted(x.tobytes() + bytes([y]) for x, y in zip(xs, ys))
    assert key(np.concatenate([a.x_train, a.x_test])[:, 0], np.concatenate([a.y_train, a.y_test])) \
        == key(full.images.astype(np.uint8), full.target)


def test_cifar10_reads_python_batches(tmp_path):
    batches = write_cifar(tmp_path, np.random.default_rng(1))
    d = load_dataset("cifar10", tmp_path)
    assert d.x_train.shape == (15, 3, 32, 32) and d.x_test.shape == (3, 3, 32, 32)
    data, labels = batches["data_batch_2"]
    assert np.array_equal(d.x_train[3:6], data.reshape(3, 3, 32, 32))
    assert d.y_train[3:6].tolist() == labels
    assert d.y_test.tolist() == batches["test_batch"][1]
    assert (d.input_bits, d.input_frac) == (8, 8)
    # the folder that contains cifar-10-batches-py works too
    sub = tmp_path / "outer" / "cifar-10-batches-py"
    sub.mkdir(parents=True)
    write_cifar(sub, np.random.default_rng(2))
    assert load_dataset("cifar10", tmp_path / "outer").x_train.shape == (15, 3, 32, 32)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, gz):
    files = write_mnist(tmp_path, np.random.default_rng(3), gz)
    d = load_dataset("mnist", tmp_path, limit_train=4)
    assert d.x_train.shape == (4, 1, 28, 28) and d.x_test.shape == (3, 1, 28, 28)
    assert np.array_equal(d.x_train[:, 0], files["train"][0][:4])
    assert np.array_equal(d.y_test, files["t10k"][1])


def test_missing_paths_name_the_file(tmp_path):
    with pytest.raises(TailorError, match="needs the path"):
        load_dataset("mnist")
    with pytest.raises(TailorError, match="nowhere.*not found"):
        load_dataset("cifar10", tmp_path / "nowhere")
    write_cifar(tmp_path, np.random.default_rng(0))
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(TailorError, match=r"data_batch_4: file not found"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(TailorError, match="t10k-images-idx3-ubyte: file not found"):
        write_mnist(tmp_path, np.random.default_rng(0), gz=False)
        (tmp_path / "t10k-images-idx3-ubyte").unlink()
        load_dataset("mnist", tmp_path)
    with pytest.raises(TailorError, match="unknown data set"):
        load_dataset("imagenet")


def test_malformed_cifar_is_rejected(tmp_path):
    write_cifar(tmp_path, np.random.default_rng(0))
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"not a pickle")
    with pytest.raises(TailorError, match="data_batch_1: not a CIFAR-10 python batch"):
        load_dataset("cifar10", tmp_path)
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(TailorError, match=r"data_batch_1: CIFAR-10 'data' must be uint8 \[N, 3072\]"):
        load_dataset("cifar10", tmp_path)
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, f)
    with pytest.raises(TailorError, match="'labels' must be 2 integers in 0..9"):
        load_dataset("cifar10", tmp_path)


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_cifar_pickle_cannot_run_code(tmp_path, capsys):
    write_cifar(tmp_path, np.random.default_rng(0))
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(TailorError, match="test_batch: not a CIFAR-10 python batch.*not allowed"):
        load_dataset("cifar10", tmp_path)
    assert "code ran" not in capsys.readouterr().out


def test_malformed_mnist_is_rejected(tmp_path):
    write_mnist(tmp_path, np.random.default_rng(0), gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])
    with pytest.raises(TailorError, match="train-images-idx3-ubyte: header says"):
        load_dataset("mnist", tmp_path)
    path.write_bytes((0x0801).to_bytes(4, "big") + raw[4:])
    with pytest.raises(TailorError, match="train-images-idx3-ubyte: not an idx file of 3-D"):
        load_dataset("mnist", tmp_path)
    path.write_bytes(raw[:6])
    with pytest.raises(TailorError, match="too short"):
        load_dataset("mnist", tmp_path)
    path.write_bytes(raw)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(4))
    with pytest.raises(TailorError, match="5 images but 4 labels"):
        load_dataset("mnist", tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(TailorError, match="train-labels-idx1-ubyte.gz: cannot be read"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("name, arch", [("cifar10", "resnet8"), ("mnist", "digits-small")])
def test_loaded_data_trains_and_exports_bit_exactly(tmp_path, name, arch):
    """The 3×32×32 and 1×28×28 (non-power-of-two pool: 7×7) inputs go through training and export."""
    import torch

    from nn.export import to_netdesc
    from nn.train import TrainConfig, train_teacher, verify_export

    torch.set_num_threads(1)
    rng = np.random.default_rng(4)
    if name == "cifar10":
        write_cifar(tmp_path, rng)
    else:
        write_mnist(tmp_path, rng, gz=True)
    cfg = TrainConfig(model=arch, data=name, data_path=str(tmp_path), epochs=1, batch_size=4)
    data = load_dataset(name, tmp_path)
    model, metrics = train_teacher(cfg, progress=False)
    assert len(metrics["history"]) == 1
    net = to_netdesc(model)
    assert net.input.shape == data.shape and net.input.type.bits == 8
    assert verify_export(model, net, data)["bit_exact"]
