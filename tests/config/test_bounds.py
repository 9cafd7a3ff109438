"""Configs and tasks check their numbers on creation: a ValueError naming the field, the value and the range.

NaN and infinities must not slip through (``nan <= 0`` is False), nor the bools and strings a
damaged ``run.json`` may hold. (The test run type-checks every grokscope signature, so a string
where a dataclass wants an int is a TypeCheckError here before ``__post_init__`` sees it; the
checks' own handling of such values is tested on ``grokscope.bounds`` directly.)
"""

import math

import numpy as np
import pytest

from grokscope.bounds import MAX_COUNT, MAX_SEED, check_float, check_int
from grokscope.config import LMRunConfig, LMTrainConfig, RunConfig, TrainConfig, config_from_dict, make_config
from grokscope.tasks import CharArithTask, ModularTask, get_char_task, make_task
from grokscope.tasks.word_ops import MAX_OPERAND, WordOpsTask

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

NAN, INF = math.nan, math.inf


# --- the checks themselves --------------------------------------------------------------------


@pytest.mark.parametrize("value", [NAN, INF, -INF, 0, -1e-9, True, "0.1", None])
def test_positive_float_refuses(value):
    with pytest.raises(ValueError, match=r"^lr must be > 0 and finite, got "):
        check_float("lr", value, lo=0, lo_open=True)


@pytest.mark.parametrize("value", [1e-300, 1, 0.5, np.float64(2.0), np.float32(1e-3), 10**6])
def test_positive_float_accepts(value):
    check_float("lr", value, lo=0, lo_open=True)


@pytest.mark.parametrize("value", [NAN, 1.0, -0.1, INF])
def test_interval_names_its_bounds(value):
    with pytest.raises(ValueError, match=r"^dropout must be in \[0, 1\), got "):
        check_float("dropout", value, lo=0, hi=1, hi_open=True)


@pytest.mark.parametrize("value", [0, -1, MAX_COUNT + 1, 10**30, 1.0, 2.5, NAN, True, "10", None])
def test_count_refuses(value):
    with pytest.raises(ValueError, match=rf"^steps must be an integer in 1..{MAX_COUNT}, got "):
        check_int("steps", value)


@pytest.mark.parametrize("value", [1, MAX_COUNT, np.int64(7)])
def test_count_accepts(value):
    check_int("steps", value)


def test_optional_count():
    check_int("batch_size", None, none_ok=True)
    with pytest.raises(ValueError, match="batch_size must be an integer in 1..1000000000 or None, got 0"):
        check_int("batch_size", 0, none_ok=True)


# --- the modular train config -----------------------------------------------------------------


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("lr", NAN, "lr must be > 0 and finite, got nan"),
        ("lr", INF, "lr must be > 0 and finite, got inf"),
        ("lr", 0.0, "lr must be > 0"),
        ("lr", -1e-3, "lr must be > 0"),
        ("weight_decay", NAN, "weight_decay must be >= 0 and finite, got nan"),
        ("weight_decay", INF, "weight_decay must be >= 0 and finite, got inf"),
        ("weight_decay", -0.1, "weight_decay must be >= 0"),
        ("beta1", NAN, r"beta1 must be in \[0, 1\), got nan"),
        ("beta2", 1.0, r"beta2 must be in \[0, 1\), got 1.0"),
        ("grok_threshold", NAN, r"grok_threshold must be in \(0, 1\], got nan"),
        ("grok_threshold", 0.0, r"grok_threshold must be in \(0, 1\]"),
        ("steps", 0, "steps must be an integer in 1..1000000000, got 0"),
        ("steps", -5, "steps must be an integer in 1..1000000000, got -5"),
        ("steps", 10**9 + 1, "steps must be an integer in 1..1000000000, got 1000000001"),
        ("steps", True, "steps must be an integer in 1..1000000000, got True"),
        ("eval_every", 0, "eval_every must be an integer in 1..1000000000, got 0"),
        ("eval_every", 10**12, "eval_every must be an integer"),
        ("ckpt_every", -1, "ckpt_every must be an integer in 1..1000000000, got -1"),
        ("ckpt_every", 10**12, "ckpt_every must be an integer"),
        ("batch_size", 0, "batch_size must be an integer in 1..1000000000 or None, got 0"),
        ("batch_size", 10**10, "batch_size must be an integer"),
        ("warmup", -1, "warmup must be an integer in 0..1000000000, got -1"),
        ("stop_after_grok", -1, "stop_after_grok must be an integer in 0..1000000000 or None, got -1"),
    ],
)
def test_train_config_refuses(field, value, needle):
    with pytest.raises(ValueError, match=needle):
        TrainConfig(**{field: value})


def test_train_config_accepts_edges():
    TrainConfig(
        steps=1,
        eval_every=1,
        ckpt_every=1,
        batch_size=1,
        warmup=0,
        stop_after_grok=0,
        weight_decay=0.0,
        beta1=0.0,
        grok_threshold=1.0,
        lr=1e-300,
    )
    TrainConfig(steps=MAX_COUNT, eval_every=MAX_COUNT, ckpt_every=MAX_COUNT, batch_size=None, stop_after_grok=None)


@pytest.mark.parametrize("seed", [-(2**63) - 1, MAX_SEED + 1, 2**64, True])
def test_run_config_seed(seed):
    with pytest.raises(ValueError, match="seed must be an integer in -9223372036854775808..9223372036854775807, got "):
        RunConfig(task=ModularTask(p=13), seed=seed)


def test_run_config_seed_edges():
    RunConfig(task=ModularTask(p=13), seed=0)
    RunConfig(task=ModularTask(p=13), seed=-1)  # runs trained with a negative seed stay readable
    RunConfig(task=ModularTask(p=13), seed=MAX_SEED)


# --- the language-model train config ----------------------------------------------------------


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"lr": NAN}, "lr must be > 0 and finite, got nan"),
        ({"lr": INF}, "lr must be > 0 and finite, got inf"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"min_lr": NAN}, "min_lr must be > 0 and finite, got nan"),
        ({"min_lr": 0.0}, "min_lr must be > 0"),
        ({"min_lr": -INF}, "min_lr must be > 0"),
        ({"lr": 1e-3, "min_lr": 1e-2}, "need 0 < min_lr <= lr"),
        ({"weight_decay": NAN}, "weight_decay must be >= 0 and finite, got nan"),
        ({"weight_decay": INF}, "weight_decay must be >= 0 and finite"),
        ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ({"grad_clip": NAN}, "grad_clip must be >= 0 and finite, got nan"),
        ({"dropout": NAN}, r"dropout must be in \[0, 1\), got nan"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"beta2": NAN}, r"beta2 must be in \[0, 1\)"),
        ({"steps": 0}, "steps must be an integer in 1..1000000000, got 0"),
        ({"steps": 10**10}, "steps must be an integer in 1..1000000000"),
        ({"eval_every": 0}, "eval_every must be an integer in 1.."),
        ({"eval_iters": 0}, "eval_iters must be an integer in 1.."),
        ({"ckpt_every": 10**10}, "ckpt_every must be an integer in 1.."),
        ({"batch_size": -1}, "batch_size must be an integer in 1..1000000000 or None, got -1"),
        ({"warmup": -1}, "warmup must be an integer in 0.."),
        ({"lr_decay_steps": 10**10}, "lr_decay_steps must be an integer in 0.."),
    ],
)
def test_lm_train_config_refuses(kw, needle):
    with pytest.raises(ValueError, match=needle):
        LMTrainConfig(**kw)


@pytest.mark.parametrize("seed", [-(2**63) - 1, 2**63])
def test_lm_run_config_seed(seed):
    with pytest.raises(ValueError, match="seed must be an integer in -9223372036854775808..9223372036854775807"):
        LMRunConfig(task=get_char_task("arith"), seed=seed)


# --- through make_config, as the command line builds them -------------------------------------


@pytest.mark.parametrize(
    "task,kw,needle",
    [
        ("mod13", {"lr": NAN}, "lr must be > 0"),
        ("mod13", {"weight_decay": INF}, "weight_decay must be >= 0 and finite"),
        ("mod13", {"seed": -(2**63) - 1}, "seed must be an integer in -9223372036854775808.."),
        ("mod13", {"seed": 2**63}, "seed must be an integer in -9223372036854775808.."),
        ("arith", {"lr": NAN}, "lr must be > 0"),  # not hidden behind min_lr = lr / 100
        ("arith", {"lr": 0.0}, "lr must be > 0"),
        ("arith", {"min_lr": NAN}, "min_lr must be > 0"),
        ("arith", {"dropout": NAN}, r"dropout must be in \[0, 1\)"),
        ("arith", {"steps": 0}, "steps must be an integer in 1.."),
        ("arith", {"steps": 10**12}, "steps must be an integer in 1.."),
        ("arith", {"seed": -(2**63) - 1}, "seed must be an integer in -9223372036854775808.."),
        ("wordops", {"steps": -1}, "steps must be an integer in 1.."),
    ],
)
def test_make_config_refuses(task, kw, needle):
    with pytest.raises(ValueError, match=needle):
        make_config(task, **kw)


def test_a_damaged_run_json_is_a_value_error():
    """NaN, infinities and out-of-range numbers in a stored config are refused by name."""
    good = make_config("mod13").to_dict()
    for path, value, needle in [
        (("train", "steps"), 0, "steps must be an integer"),
        (("train", "lr"), NAN, "lr must be > 0"),
        (("train", "weight_decay"), INF, "weight_decay must be >= 0 and finite"),
        (("train", "stop_after_grok"), -2, "stop_after_grok must be an integer"),
        (("seed",), -(2**63) - 1, "seed must be an integer"),
        (("task", "frac"), NAN, "frac"),
        (("task", "seed"), 2**64, "seed must be an integer"),
    ]:
        d = {k: dict(v) if isinstance(v, dict) else v for k, v in good.items()}
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(ValueError, match=needle):
            config_from_dict(d)


# --- task configs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"frac": NAN}, "frac .* must be strictly between 0 and 1, got nan"),
        ({"frac": INF}, "frac .* must be strictly between 0 and 1, got inf"),
        ({"frac": 0.0}, "between 0 and 1"),
        (
            {"seed": -(2**63) - 1},
            "seed must be an integer in -9223372036854775808..9223372036854775807, got -9223372036854775809",
        ),
        ({"seed": 2**63}, "seed must be an integer in -9223372036854775808.."),
        ({"seed": True}, "seed must be an integer in -9223372036854775808..9223372036854775807, got True"),
        ({"p": True}, "p must be an integer in 3..100000"),
    ],
)
def test_modular_task_refuses(kw, needle):
    with pytest.raises(ValueError, match=needle):
        ModularTask(**({"p": 13} | kw))


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"low": 0, "high": 10**22}, f"operands must lie in {-MAX_OPERAND}..{MAX_OPERAND}"),
        ({"low": -(10**9), "high": 5}, "operands must lie in"),
        ({"low": False, "high": 5}, "operands must be integers"),
        ({"low": -MAX_OPERAND, "high": MAX_OPERAND}, "more than can be drawn from"),
        ({"n_train": 10**10}, "n_train must be an integer in 1..1000000000"),
        ({"n_test": 0}, "n_test must be an integer in 1.."),
        ({"batch_size": 0}, "batch_size must be an integer in 1.."),
        ({"decimals": 13}, "decimals must be an integer in 0..12, got 13"),
        ({"seed": -(2**63) - 1}, "seed must be an integer in -9223372036854775808.."),
    ],
)
def test_word_ops_task_refuses(kw, needle):
    with pytest.raises(ValueError, match=needle):
        WordOpsTask(**({"n_train": 10, "n_test": 5} | kw))


def test_word_ops_widest_ranges_that_can_be_drawn():
    WordOpsTask(low=0, high=MAX_OPERAND, n_train=10, n_test=5)
    WordOpsTask(low=-MAX_OPERAND, high=MAX_OPERAND, ops=("SUM",), n_train=10, n_test=5)


@pytest.mark.parametrize(
    "operands,needle",
    [
        ("0..99999999999999999999999", f"--operands 0..99999999999999999999999: operands must lie in {-MAX_OPERAND}"),
        ("0.." + "9" * 5000, "operands must lie in"),  # beyond int()'s 4300-digit limit
        ("0..9999999999", "operands must lie in"),
        ("0..١٢", "write the range as LOW..HIGH"),  # Arabic-Indic digits are not operands
        ((0, 10**20), "operands must lie in"),
        ((True, 5), "operands must be integers"),
        (5, "give a pair"),
    ],
)
def test_operands_option(operands, needle):
    with pytest.raises(ValueError, match=needle):
        make_task("wordops", operands=operands)


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"batch_size": 0}, "batch_size must be an integer in 1.."),
        ({"block_size": 10**12}, "block_size must be an integer in 1..1000000000"),
        ({"data_seed": 2**63}, "data_seed must be an integer in -9223372036854775808.."),
    ],
)
def test_char_arith_task_refuses(kw, needle):
    with pytest.raises(ValueError, match=needle):
        CharArithTask(**kw)


def test_facts_task_block_size():
    with pytest.raises(ValueError, match="block_size must be an integer in 2..1000000000, got 1"):
        get_char_task("capitals", block_size=1)
