"""Quantization-aware training: resuming continues exactly, integer evaluation is the netdesc
reference's accuracy, and the export check reports what it compared."""

import pytest
import torch

import netdesc
import nn.train
from nn.export import to_netdesc
from nn.models import model_spec
from nn.train import TrainConfig, evaluate, load_data, train_teacher, verify_export
from common.errors import TailorError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return load_data(TrainConfig(limit_train=96, limit_test=40))


def test_resume_continues_exactly(data, tmp_path, monkeypatch):
    cfg = TrainConfig(epochs=3, seed=4)
    whole, metrics = train_teacher(cfg, data, progress=False)
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2]

    original = nn.train.save_checkpoint

    def interrupted(path, ckpt):
        original(path, ckpt)
        if ckpt["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(nn.train, "save_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_teacher(cfg, data, progress=False, checkpoint=tmp_path / "t.pt")
    monkeypatch.setattr(nn.train, "save_checkpoint", original)
    resumed, metrics = train_teacher(cfg, data, progress=False, resume=tmp_path / "t.pt")
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2]
    assert all(torch.equal(v, whole.state_dict()[k]) for k, v in resumed.state_dict().items())


def test_integer_evaluation_is_the_reference_accuracy(data):
    model, metrics = train_teacher(TrainConfig(epochs=1), data, progress=False)
    net = to_netdesc(model)
    reference = (netdesc.run(net, data.x_test).argmax(1) == data.y_test).mean()
    assert evaluate(model, data, integer=True) == metrics["integer_test_acc"] == reference
    report = verify_export(model, net, data, batch_size=16)  # several batches
    assert report["bit_exact"] and report["mismatched_logits"] == 0
    assert report["test_images"] == 40 and report["integer_test_acc"] == reference
    assert report["fakequant_test_acc"] == evaluate(model, data, integer=False)
    assert 0 <= report["argmax_agreement"] <= 1



def test_bad_spec_is_one_line_error():
    with pytest.raises(TailorError, match="unknown model 'resnet50'"):
        model_spec("resnet50", (1, 8, 8), 5, 4)
    with pytest.raises(TailorError, match="activation bits must be 2..8"):
        model_spec("resnet8", (3, 8, 8), 8, 8, act_bits=12)
