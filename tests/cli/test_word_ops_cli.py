"""``grokscope train --task wordops`` (with ``--init-from``) and ``grokscope analyze behavior``: JSON and bad input."""

import json

import pytest
import torch
from typer.testing import CliRunner

from grokscope.cli.main import app
from tests.conftest import one_line_error

runner = CliRunner()
SMALL = [
    "--operands",
    "0..20",
    "--decimals",
    "1",
    "--n-train",
    "200",
    "--n-test",
    "40",
    "--steps",
    "20",
    "--eval-every",
    "10",
    "--ckpt-every",
    "10",
    "--device",
    "cpu",
    "--quiet",
]


@pytest.fixture(scope="module")
def init_folder(tmp_path_factory):
    """A tiny model saved by the test itself, with its vocabulary, as --init-from reads it."""
    from grokscope.models.build import build_model, load_state_, model_state
    from grokscope.models.init_from import save_init_folder
    from grokscope.tasks.word_ops import WordOpsTask

    task = WordOpsTask(low=0, high=20, decimals=1, n_train=200, n_test=40)
    model = build_model("n14", task, seed=7)
    # Saved with its characters reversed: --init-from must re-index the embeddings by character.
    perm = torch.arange(task.vocab.size).flip(0)
    state = model_state(model)
    state["embed.W_E"] = state["embed.W_E"][perm]
    state["unembed.W_U"] = state["unembed.W_U"][:, perm]
    load_state_(model, state)
    folder = save_init_folder(model, tmp_path_factory.mktemp("init") / "tiny", chars=task.vocab.chars[::-1])
    return folder, model_state(build_model("n14", task, seed=7))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, init_folder):
    out = tmp_path_factory.mktemp("runs")
    r = runner.invoke(
        app,
        ["train", "--task", "wordops", *SMALL, "--init-from", str(init_folder[0]), "--out", str(out), "--name", "w"],
    )
    assert r.exit_code == 0, r.output
    return out / "w"


def test_init_from_starts_from_the_saved_weights(trained, init_folder):
    from grokscope.store.run import Run

    run = Run(trained)
    assert run.config.preset == "n14"  # found from the folder's architecture
    assert run.task.ops == ("SUM", "SUBTRACT", "MULTIPLY", "DIVIDE") and (run.task.low, run.task.high) == (0, 20)
    step0 = run.state_dict(0)
    for k in ("embed.W_E", "unembed.W_U", "blocks.0.mlp.W_in", "pos_embed.W_pos"):
        assert torch.equal(step0[k], init_folder[1][k]), k
    assert run.steps[-1] == 20 and "exact_test" in run.metrics_rows()[-1]


def test_wordops_defaults_are_the_blog_setting(tmp_path):
    from grokscope.config.lm import WORD_OPS_TRAIN
    from grokscope.store.run import Run

    r = runner.invoke(app, ["train", "--task", "wordops", *SMALL, "--out", str(tmp_path), "--name", "d"])
    assert r.exit_code == 0, r.output
    cfg = Run(tmp_path / "d").config
    assert cfg.preset == "power2l"  # not the capacity suite's n14
    assert (cfg.train.lr, cfg.train.min_lr, cfg.train.weight_decay) == (1e-3, 1e-4, 0.1)
    # the blog schedule (warm-up 100, cosine over 3,000 steps) scaled to --steps 20
    assert WORD_OPS_TRAIN["warmup"] == 100 and (cfg.train.warmup, cfg.train.lr_decay_steps) == (1, 20)


def test_analyze_behavior_json(trained, tmp_path):
    out = tmp_path / "rep.html"
    r = runner.invoke(app, ["analyze", "behavior", str(trained), "--json", "--per-group", "5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["task"] == "wordops-r0_20" and s["groups"] == ["DIVIDE", "MULTIPLY", "SUBTRACT", "SUM"]
    row = s["per_checkpoint"][-1]
    assert row["step"] == 20 and isinstance(row["train_loss"], float) and isinstance(row["val_loss"], float)
    for key in (
        "exact",
        "digit_accuracy",
        "magnitude_correct",
        "sign_correct",
        "relative_error",
        "ran_on",
        "operation_consistent",
    ):
        assert key in row["test"]["SUM"], key
    assert set(s["gaps"]) == {"all", "DIVIDE", "MULTIPLY", "SUBTRACT", "SUM"}
    assert s["report"] == str(out) and out.read_text().count("Plotly.newPlot") == 4


def test_analyze_behavior_table(trained):
    r = runner.invoke(app, ["analyze", "behavior", str(trained), "--per-group", "3", "--checkpoints", "2", "-q"])
    assert r.exit_code == 0, r.output
    assert "chance" in r.stdout and "DIVIDE" in r.stdout and "report: " in r.stdout
    assert (trained / "analysis" / "behavior.html").is_file()


def test_bad_operation(tmp_path):
    one_line_error(
        runner.invoke(app, ["train", "--task", "wordops", "--ops", "SUM,POWER", *SMALL, "--out", str(tmp_path)]),
        "unknown operation 'POWER'",
    )


def test_divide_by_zero_range(tmp_path):
    one_line_error(
        runner.invoke(
            app,
            [
                "train",
                "--task",
                "wordops",
                "--ops",
                "DIVIDE",
                "--operands",
                "0..0",
                "--n-train",
                "1",
                "--n-test",
                "1",
                "--out",
                str(tmp_path),
            ],
        ),
        "divide by zero",
    )


def test_bad_range_and_misplaced_flags(tmp_path):
    one_line_error(
        runner.invoke(app, ["train", "--task", "wordops", "--operands", "0-9", "--out", str(tmp_path)]), "LOW..HIGH"
    )
    one_line_error(
        runner.invoke(app, ["train", "--task", "arith", "--ops", "SUM", "--out", str(tmp_path)]), "wordops task only"
    )
    one_line_error(
        runner.invoke(app, ["train", "--task", "mod97", "--decimals", "2", "--out", str(tmp_path)]),
        "--decimals applies to character-level tasks",
    )


def test_init_from_vocabulary_lacking_characters(tmp_path, init_folder):
    cfg = json.loads((init_folder[0] / "config.json").read_text())
    folder = tmp_path / "novocab"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg | {"chars": cfg["chars"].replace("M", "")}))
    (folder / "model.safetensors").write_bytes((init_folder[0] / "model.safetensors").read_bytes())
    one_line_error(
        runner.invoke(
            app, ["train", "--task", "wordops", *SMALL, "--init-from", str(folder), "--out", str(tmp_path / "o")]
        ),
        "lacks characters the task needs: 'M'",
    )
    one_line_error(
        runner.invoke(
            app,
            ["train", "--task", "wordops", *SMALL, "--init-from", str(tmp_path / "none"), "--out", str(tmp_path / "o")],
        ),
        "not a folder",
    )


def test_analyze_behavior_bad_input(trained, tmp_path):
    from grokscope.training.train import train
    from tests.conftest import tiny_config

    modular = train(tiny_config(steps=3, eval_every=1, ckpt_every=1), tmp_path / "mod", device="cpu")
    one_line_error(
        runner.invoke(app, ["analyze", "behavior", str(trained), "--ops", "SUM,POWER", "-q"]),
        "unknown operation 'POWER'",
    )
    one_line_error(
        runner.invoke(app, ["analyze", "behavior", str(trained), "--task", "capitals", "-q"]), "lacks characters"
    )
    one_line_error(runner.invoke(app, ["analyze", "behavior", str(modular.path), "-q"]), "not a character-level run")
    one_line_error(runner.invoke(app, ["analyze", "behavior", str(tmp_path / "nothing"), "-q"]), "")
