"""The Tailor schedule changes the right skips at the right epochs; distillation loss; resume."""

import pytest
import torch
import torch.nn.functional as F

import nn.distill
from nn.distill import DistillConfig, kd_loss, skip_schedule, tailor_optimize
from nn.train import TrainConfig, load_data, new_model
from common.errors import TailorError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return load_data(TrainConfig(limit_train=64, limit_test=32))


@pytest.fixture()
def teacher(data):
    model = new_model(TrainConfig(), data)
    model.train()
    with torch.no_grad():  # calibrate batch norm and activation ranges (no training needed here)
        model(torch.as_tensor(data.x_train))
    return model.eval()


def test_schedule_input_side_first(teacher):
    assert [tuple(c) for c in skip_schedule(teacher, "remove", 2)] == \
        [(0, 0, "remove"), (2, 1, "remove"), (4, 2, "remove")]
    assert [tuple(c) for c in skip_schedule(teacher, "shorten", 3)] == \
        [(0, 0, "shorten"), (3, 1, "shorten"), (6, 2, "shorten")]
    assert [c.epoch for c in skip_schedule(teacher, "remove-all", 5)] == [0, 0, 0]
    teacher.blocks[0].remove_skips()  # a skip already gone is not scheduled again
    assert [c.block for c in skip_schedule(teacher, "shorten", 1)] == [1, 2]
    for b in teacher.blocks:
        b.remove_skips()
    with pytest.raises(TailorError, match="no skip to remove"):
        skip_schedule(teacher, "remove", 1)


@pytest.mark.parametrize("mode, every, finetune, expected", [
    ("remove", 1, 1, ["- L L", "- - L", "- - -", "- - -"]),
    ("shorten", 2, 0, ["S12 L L"] * 2 + ["S12 S12 L"] * 2 + ["S12 S12 S12"] * 2),
    ("remove-all", 1, 0, ["- - -"] * 3),
])
def test_optimize_follows_the_schedule(teacher, data, mode, every, finetune, expected):
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student, metrics = tailor_optimize(teacher, data, DistillConfig(mode=mode, every=every, finetune=finetune),
                                       progress=False)
    assert [h["skips"] for h in metrics["history"]] == expected
    assert [h["epoch"] for h in metrics["history"]] == list(range(len(expected)))
    assert [s["skips"] for s in metrics["stages"]] == list(dict.fromkeys(expected))
    assert student.skip_code() == expected[-1] and teacher.skip_code() == "L L L"
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())
    assert 0 <= metrics["integer_test_acc"] <= 1


def test_kd_loss():
    torch.manual_seed(0)
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    ce = F.cross_entropy(s, y)
    assert torch.allclose(kd_loss(s, t, y, alpha=0.0), ce)
    assert torch.allclose(kd_loss(s, t, y, alpha=0.35), 0.35 * ((s - t) ** 2).mean() + 0.65 * ce)
    p_t = torch.softmax(t / 2, 1)
    kl = (p_t * (p_t.log() - torch.log_softmax(s / 2, 1))).sum(1).mean() * 4
    assert torch.allclose(kd_loss(s, t, y, alpha=0.5, kd="kl", temperature=2.0), 0.5 * kl + 0.5 * ce)


def test_bad_config_is_one_line_error():
    with pytest.raises(TailorError, match="unknown mode 'prune'"):
        DistillConfig(mode="prune").check()
    with pytest.raises(TailorError, match="alpha must be in 0..1"):
        DistillConfig(alpha=1.5).check()


def test_resume_continues_exactly(teacher, data, tmp_path, monkeypatch):
    cfg = DistillConfig(mode="shorten", every=1, finetune=1)
    whole, _ = tailor_optimize(teacher, data, cfg, progress=False)

    original, calls = nn.distill.save_checkpoint, []

    def interrupted(path, ckpt):
        original(path, ckpt)
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(nn.distill, "save_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tailor_optimize(teacher, data, cfg, progress=False, checkpoint=tmp_path / "s.pt")
    monkeypatch.setattr(nn.distill, "save_checkpoint", original)
    resumed, metrics = tailor_optimize(None, data, cfg, progress=False, resume=tmp_path / "s.pt")
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2, 3]
    assert resumed.skip_code() == whole.skip_code() == "S12 S12 S12"
    assert all(torch.equal(v, whole.state_dict()[k]) for k, v in resumed.state_dict().items())
