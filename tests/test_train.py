"""train: the presets' settings, the checks made before the corpus is fetched, and the draft's
distillation pieces (tiny models; the corpus is never downloaded here)."""
import numpy as np
import pytest
import torch

from _helpers import tiny_config
from nanoinfer_lib import GPT, train


def test_presets_fill_what_the_command_line_leaves_out():
    draft = train.parse_args(["--preset", "draft"])
    assert (draft.n_layer, draft.n_embd, draft.loss) == (train.PRESETS["draft"]["n_layer"],
                                                          train.PRESETS["draft"]["n_embd"], "distill")
    assert train.parse_args(["--preset", "draft", "--n-layer", "2"]).n_layer == 2     # a flag wins
    model = train.parse_args([])
    assert (model.preset, model.n_layer, model.n_embd, model.steps, model.loss) == ("model", 4, 256, 1400, "ce")


@pytest.mark.parametrize("argv, err, match", [
    (["--preset", "draft", "--n-head", "3"], ValueError, "--n-embd"),
    (["--preset", "draft", "--steps", "0"], ValueError, "--steps"),
    (["--preset", "draft", "--teacher", "missing.pt"], FileNotFoundError, "--teacher"),
    (["--loss", "distill"], ValueError, "--preset draft"),
])
def test_bad_settings_fail_before_any_work(argv, err, match):
    with pytest.raises(err, match=match):
        train.check_args(train.parse_args(argv))


def test_distill_loss_is_the_kl_divergence():
    torch.manual_seed(0)
    teacher = torch.randn(2, 3, 7)
    assert train.distill_loss(teacher, teacher).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.randn(2, 3, 7)
    p, log_q = teacher.softmax(-1), student.log_softmax(-1)
    want = (p * (p.log() - log_q)).sum(-1).mean()                      # KL(teacher || student) per position
    assert train.distill_loss(student, teacher).item() == pytest.approx(want.item(), rel=1e-5)


def test_top1_agreement(tiny_model):
    data = np.arange(64, dtype=np.uint16) % 50
    assert train.top1_agreement(tiny_model, tiny_model, data, max_windows=4) == 1.0
    torch.manual_seed(3)
    other = GPT(tiny_config()).eval()
    assert 0.0 <= train.top1_agreement(other, tiny_model, data, max_windows=4) < 1.0
