"""``grokscope train`` checks every number before it writes anything: one line, exit code 2, --out left empty."""

import subprocess

import pytest

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

BIG = str(10**9 + 1)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--lr", "nan"], "lr must be > 0 and finite, got nan"),
        (["--lr", "inf"], "lr must be > 0 and finite, got inf"),
        (["--lr", "-inf"], "lr must be > 0 and finite, got -inf"),
        (["--lr", "0"], "lr must be > 0 and finite, got 0.0"),
        (["--lr", "-0.001"], "lr must be > 0 and finite, got -0.001"),
        (["--wd", "nan"], "weight_decay must be >= 0 and finite, got nan"),
        (["--wd", "inf"], "weight_decay must be >= 0 and finite, got inf"),
        (["--wd", "-1"], "weight_decay must be >= 0 and finite, got -1.0"),
        (["--frac", "nan"], "frac (the train fraction) must be strictly between 0 and 1, got nan"),
        (
            ["--seed", str(-(2**63) - 1)],
            f"seed must be an integer in -9223372036854775808..9223372036854775807, got {-(2**63) - 1}",
        ),
        (["--seed", str(2**63)], f"seed must be an integer in -9223372036854775808..9223372036854775807, got {2**63}"),
        (["--seed", "9" * 40], "seed must be an integer in -9223372036854775808..9223372036854775807"),
        (["--steps", "0"], "steps must be an integer in 1..1000000000, got 0"),
        (["--steps", "-10"], "steps must be an integer in 1..1000000000, got -10"),
        (["--steps", BIG], f"steps must be an integer in 1..1000000000, got {BIG}"),
        (["--eval-every", "0"], "eval_every must be an integer in 1..1000000000, got 0"),
        (["--eval-every", BIG], "eval_every must be an integer in 1..1000000000"),
        (["--ckpt-every", "-1"], "ckpt_every must be an integer in 1..1000000000, got -1"),
        (["--ckpt-every", BIG], "ckpt_every must be an integer in 1..1000000000"),
        (["--batch-size", "0"], "batch_size must be an integer in 1..1000000000 or None, got 0"),
        (["--batch-size", BIG], "batch_size must be an integer in 1..1000000000"),
        (["--stop-after-grok", "-2"], "stop_after_grok must be an integer in 0..1000000000 or None, got -2"),
        # character-level tasks
        (["--task", "arith", "--lr", "nan"], "lr must be > 0 and finite, got nan"),
        (["--task", "arith", "--lr", "0"], "lr must be > 0 and finite, got 0.0"),
        (["--task", "arith", "--min-lr", "nan"], "min_lr must be > 0 and finite, got nan"),
        (["--task", "arith", "--min-lr", "inf"], "min_lr must be > 0 and finite, got inf"),
        (["--task", "arith", "--dropout", "nan"], "dropout must be in [0, 1), got nan"),
        (["--task", "arith", "--wd", "nan"], "weight_decay must be >= 0 and finite, got nan"),
        (
            ["--task", "arith", "--seed", str(2**63)],
            f"seed must be an integer in -9223372036854775808..9223372036854775807, got {2**63}",
        ),
        (["--task", "arith", "--steps", "0"], "steps must be an integer in 1..1000000000, got 0"),
        (["--task", "arith", "--steps", BIG], "steps must be an integer in 1..1000000000"),
        (["--task", "arith", "--batch-size", "0"], "batch_size must be an integer in 1..1000000000 or None, got 0"),
        (["--task", "arith", "--warmup", "-1"], "warmup must be an integer in 0..1000000000, got -1"),
        (["--task", "capitals", "--block-size", "1"], "block_size must be an integer in 2..1000000000, got 1"),
        # word operations
        (
            ["--task", "wordops", "--operands", "0..99999999999999999999999"],
            "--operands 0..99999999999999999999999: operands must lie in -999999999..999999999",
        ),
        (["--task", "wordops", "--operands", "0.." + "9" * 5000], "operands must lie in -999999999..999999999"),
        (["--task", "wordops", "--operands", "-5..99999999999"], "operands must lie in -999999999..999999999"),
        (["--task", "wordops", "--operands", "-999999999..999999999"], "more than can be drawn from"),
        (["--task", "wordops", "--n-train", BIG], "n_train must be an integer in 1..1000000000"),
        (["--task", "wordops", "--n-test", "0"], "n_test must be an integer in 1..1000000000, got 0"),
        (["--task", "wordops", "--decimals", "-1"], "decimals must be an integer in 0..12, got -1"),
        (["--task", "wordops", "--lr", "inf"], "lr must be > 0 and finite, got inf"),
    ],
)
def test_bad_number_is_refused_before_any_write(cli_cmd, tmp_path, args, needle):
    out = tmp_path / "runs"
    out.mkdir()
    r = subprocess.run(
        [*cli_cmd, "train", "--out", str(out), "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr[-2000:]
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not any(out.iterdir()), "a refused number creates no run folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_a_resume_with_a_bad_number_changes_nothing(cli_cmd, tmp_path):
    """--resume --steps 0 / NaN: refused by the config checks, the run as it was."""
    from grokscope.training.train import train
    from tests.conftest import ckpt_bytes, tiny_config

    run = train(tiny_config(steps=12), tmp_path)
    before = ckpt_bytes(run.path), (run.path / "metrics.jsonl").read_text(), (run.path / "run.json").read_text()
    for args in (["--steps", "0"], ["--steps", BIG], ["--lr", "nan"]):
        r = subprocess.run(
            [*cli_cmd, "train", "--resume", str(run.path), "--quiet", *args], capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 2 and r.stderr.startswith("error: "), r.stderr[-2000:]
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    after = ckpt_bytes(run.path), (run.path / "metrics.jsonl").read_text(), (run.path / "run.json").read_text()
    assert before == after
