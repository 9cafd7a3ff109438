"""The character-level trainer: it learns the arithmetic task, resumes bit-identically (dropout
included), writes the run store, and Run opens its runs."""

import json

import pytest
import torch

from grokscope.config.lm import LMRunConfig, LMTrainConfig
from grokscope.tasks import CharArithTask, get_task
from grokscope.training.train import resume, train
from tests.conftest import ckpt_bytes


def lm_config(*, task=None, preset="n14", **train) -> LMRunConfig:
    defaults = dict(steps=30, warmup=5, lr_decay_steps=30, eval_every=10, eval_iters=2, ckpt_every=10, batch_size=32)
    task = task or CharArithTask(eval_samples=1, eval_temperature=0.0, eval_top_k=None)
    return LMRunConfig(task=task, preset=preset, seed=0, train=LMTrainConfig(**(defaults | train)))


def test_run_store_and_run_api(tmp_path):
    run = train(lm_config(), tmp_path)
    info = json.loads((run.path / "run.json").read_text())
    assert info["finished"] and info["config"]["trainer"] == "lm" and info["final_step"] == 30
    assert run.steps[:5] == [0, 1, 2, 3, 4] and run.steps[-1] == 30
    df = run.metrics()
    assert {"train_loss", "val_loss", "add_acc", "sub_acc", "heldout_correct", "score", "lr"} <= set(df.columns)
    assert list(df.index) == [0, 10, 20, 30]
    assert isinstance(run.task, CharArithTask)
    model = run.model(30)
    assert type(model).__name__ in ("HookedTransformer", "TransformerBridge") and not model.training
    assert torch.equal(model.unembed.W_U, model.embed.W_E.T)  # tied through training
    # The stored step-30 weights reproduce the step-30 evaluation.
    again = run.task.evaluate(model, generator=torch.Generator())
    assert again["add_correct"] == df.loc[30, "add_correct"]
    assert run.best_step in run.steps


def test_resume_with_dropout_is_bit_identical(tmp_path):
    full = train(lm_config(steps=40, dropout=0.2), tmp_path / "full")
    part = train(lm_config(steps=25, dropout=0.2), tmp_path / "part")
    resumed = resume(part.path, steps=40)
    got, want = ckpt_bytes(resumed.path), ckpt_bytes(full.path)
    assert got.pop("step_0000025.safetensors")  # the off-schedule stop of the shorter run
    assert got == want
    strip = lambda rows: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]  # noqa: E731
    assert strip(resumed.metrics_rows()) == strip(full.metrics_rows())


def test_dropout_changes_the_trajectory_and_init_state_is_used(tmp_path):
    a = train(lm_config(steps=10), tmp_path / "a")
    b = train(lm_config(steps=10, dropout=0.2), tmp_path / "b")
    assert not torch.equal(a.state_dict(10)["blocks.0.mlp.W_in"], b.state_dict(10)["blocks.0.mlp.W_in"])
    c = train(lm_config(steps=10), tmp_path / "c", init_state=a.state_dict(10))
    assert torch.equal(c.state_dict(0)["embed.W_E"], a.state_dict(10)["embed.W_E"])
    with pytest.raises(ValueError, match="init state does not fit"):
        train(lm_config(steps=10), tmp_path / "d", init_state={"embed.W_E": torch.zeros(17, 14)})


def test_learns_the_line_format_quickly(tmp_path):
    # 400 steps of 256 windows: from ln(17) = 2.83 to the loss of a model that knows the format
    # ('<', digits, '=', '>', padding) but not yet the answers (~1.05; answers learned give ~0.84).
    torch.set_num_threads(1)
    cfg = lm_config(
        preset="n28", steps=400, warmup=50, lr_decay_steps=400, eval_every=400, ckpt_every=400, batch_size=256
    )
    rows = train(cfg, tmp_path).metrics_rows()
    assert rows[0]["val_loss"] > 2.8 and rows[-1]["val_loss"] < 1.07, rows[-1]


@pytest.mark.slow
def test_learns_the_arithmetic_task(tmp_path):
    # The paper's n14 set-up with a 2,000-step schedule: seen sums/differences are learned
    # (measured at step 2,000: val loss 0.843, addition 94%, subtraction 52%, 30/40 held-out; ~55 s on one core).
    torch.set_num_threads(1)
    task = CharArithTask()
    cfg = LMRunConfig(
        task=task,
        preset="n14",
        seed=1337,
        train=LMTrainConfig(steps=2000, warmup=200, lr_decay_steps=2000, eval_every=500, eval_iters=5),
    )
    last = train(cfg, tmp_path).metrics_rows()[-1]
    assert last["val_loss"] < 0.86 and last["add_acc"] > 0.8 and last["sub_acc"] > 0.4, last


def test_get_task_builds_a_run_config():
    cfg = LMRunConfig(task=get_task("joint-clean"), preset="n14")
    assert cfg.batch_size == 576 and cfg.default_name == "joint-clean-n14-s1337"
    with pytest.raises(ValueError, match="not a character-level task"):
        LMRunConfig(task=get_task("mod97"))


def test_fast_forward_resumes_bit_identically_and_tracks_hooked_transformer(tmp_path):
    full = train(lm_config(steps=24), tmp_path / "full")  # dropout 0: the fused forward
    part = train(lm_config(steps=15), tmp_path / "part")
    resumed = resume(part.path, steps=24)
    got, want = ckpt_bytes(resumed.path), ckpt_bytes(full.path)
    assert got.pop("step_0000015.safetensors")
    assert got == want
    plain = train(lm_config(steps=24, fast=False), tmp_path / "plain")  # HookedTransformer
    ours, theirs = full.state_dict(24), plain.state_dict(24)
    assert not torch.equal(ours["blocks.0.attn.W_Q"], theirs["blocks.0.attn.W_Q"])  # two routes, rounded apart
    for name, w in theirs.items():
        torch.testing.assert_close(ours[name], w, atol=1e-4, rtol=1e-3, msg=name)


def test_default_train_scales_the_schedule_to_steps():
    from grokscope.config.lm import WORD_OPS_TRAIN, default_preset, default_train

    paper = default_train("arith", "n14")
    assert (paper["steps"], paper["warmup"], paper["lr_decay_steps"], paper["lr"]) == (30_000, 2_000, 25_000, 1e-2)
    short = default_train("joint", "n28", steps=3_000)
    assert (short["steps"], short["warmup"], short["lr_decay_steps"]) == (3_000, 200, 2_500)
    assert default_train("arith", "mlt")["dropout"] == 0.2
    assert default_train("wordops-clean", "power2l") == dict(WORD_OPS_TRAIN)
    assert default_train("wordops", "n14", steps=6_000)["warmup"] == 200
    assert (default_preset("wordops"), default_preset("capitals")) == ("power2l", "n14")
    LMTrainConfig(**default_train("arith", "n56", steps=7))  # a valid config at any length
