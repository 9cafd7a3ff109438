"""Every behavioural metric on hand-written cases, and the blog's five examples with the observation each gets."""

import math

import pytest

from grokscope.analysis.behavior import metrics as bm
from grokscope.analysis.behavior.score import FAILURES, score_answer
from grokscope.tasks.word_ops import WordOpsTask, word_op_answer
from grokscope.tasks.word_ops_blog import BLOG_OUTPUTS

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def test_parse_number():
    assert bm.parse_number("-12.50") == bm.Decimal("-12.5")
    for bad in ("", "-", "1.", ".5", "1.2.3", "12a", " 1", "+1"):
        assert bm.parse_number(bad) is None, bad


def test_exact_match_is_textual():
    assert bm.exact_match("958", "958")
    assert not bm.exact_match("958.0", "958") and not bm.exact_match("0958", "958")


def test_char_accuracy_and_prefix():
    assert bm.char_accuracy("Paris", "Paris") == 1.0
    assert bm.char_accuracy("Parix", "Paris") == 0.8
    assert bm.char_accuracy("Par", "Paris") == 0.6  # missing characters are wrong positions
    assert bm.char_accuracy("", "") == 1.0
    assert bm.correct_prefix("Parma", "Paris") == 3 and bm.correct_prefix("", "x") == 0


def test_place_digits():
    assert bm.place_digits("-10.5") == {1: "1", 0: "0", -1: "5"}


@pytest.mark.parametrize(
    "answer,target,expected",
    [
        ("958", "958", 1.0),
        ("968", "958", 2 / 3),
        ("58", "958", 2 / 3),  # aligned by place value: units with units, not left-aligned
        ("9580", "958", 0.0),  # one place too many shifts every digit
        ("-308", "308", 1.0),  # the sign is not a digit
        ("0.3165618", "0.38034188", 4 / 9),
        ("1.5", "1.50", 1.0 * 2 / 3 + 0),  # the missing hundredths digit counts as wrong
        ("abc", "958", 0.0),
    ],
)
def test_digit_accuracy(answer, target, expected):
    assert bm.digit_accuracy(answer, target) == pytest.approx(expected)


def test_digit_accuracy_not_applicable_to_words():
    assert bm.digit_accuracy("Paris", "Rome") is None


def test_relative_error():
    assert bm.relative_error("110", "100") == pytest.approx(0.1)
    assert bm.relative_error("-5", "0") == 5.0  # target 0: absolute error
    assert bm.relative_error("x", "100") == math.inf
    assert bm.relative_error("x", "Rome") is None


def test_sign_correct():
    assert bm.sign_correct("-308781889", "-308") is True
    assert bm.sign_correct("308", "-308") is False
    assert bm.sign_correct("0", "5") is True and bm.sign_correct("-1", "0") is False
    assert bm.sign_correct("", "-3") is False and bm.sign_correct("a", "b") is None


def test_order_of_magnitude():
    D = bm.Decimal
    assert [bm.order_of_magnitude(D(s)) for s in ("958", "1000", "0.38", "-9.99", "0.0012")] == [2, 3, -1, 0, -3]
    assert bm.order_of_magnitude(D("0")) is None


def test_magnitude_correct():
    assert bm.magnitude_correct("999", "100") is True
    assert bm.magnitude_correct("1000", "999") is False
    assert bm.magnitude_correct("-0.31", "0.38") is True  # the sign is its own metric
    assert bm.magnitude_correct("0", "0") is True and bm.magnitude_correct("0", "1") is False
    assert bm.magnitude_correct("9", "Rome") is None


@pytest.mark.parametrize(
    "answer,target,stopped,expected",
    [
        ("958", "958", True, "ok"),
        ("95", "958", True, "early"),
        ("9581", "958", True, "ran_on"),
        ("958", "958", False, "ran_on"),  # never produced the end token
        ("-958", "958", True, "ok"),  # a sign error is not a length error
        ("Par", "Paris", True, "early"),
    ],
)
def test_termination(answer, target, stopped, expected):
    assert bm.termination(answer, target, stopped=stopped) == expected


def test_ran_on_after_answer():
    assert bm.ran_on_after_answer("8912108912101025", "891210")
    assert not bm.ran_on_after_answer("891210", "891210") and not bm.ran_on_after_answer("8912", "891210")


@pytest.mark.parametrize(
    "answer,target,places",
    [
        ("10.69620253", "10.696202531", 8),
        ("0.3165618", "0.38034188", 1),
        ("3", "3.00", 2),  # decimal-aware: missing decimals are zeros
        ("3.01", "3.00", 1),
        ("4.00", "3.00", -1),  # integer part wrong
        ("-0.5", "0.5", -1),  # sign wrong
        ("-0.00", "0.00", 2),  # but -0 is 0
        ("x", "1.5", -1),
    ],
)
def test_decimal_places_correct(answer, target, places):
    assert bm.decimal_places_correct(answer, target) == places


def test_decimal_match():
    assert bm.decimal_match("10.69620253", "10.696202531", 8) and not bm.decimal_match("10.69620253", "10.696202531", 9)
    assert bm.decimal_match("0.3165618", "0.38034188", 2) is False
    assert bm.decimal_match("a", "Rome", 2) is None


def test_operation_consistency():
    cands = {"SUM": "1889", "SUBTRACT": "59", "MULTIPLY": "891210", "DIVIDE": "1.0644"}
    assert bm.closest_operations("891000", cands) == ("MULTIPLY",)
    assert bm.closest_operations("8912108912101025", cands) == ("MULTIPLY",)  # right answer, ran on
    assert bm.closest_operations("1890", cands) == ("SUM",)
    assert bm.operation_consistent("1890", "SUM", cands) and not bm.operation_consistent("1890", "MULTIPLY", cands)
    assert bm.closest_operations("300", cands) == ()  # nothing within 50%: no operation claimed
    # Ties count for every tied operation: 2+2 = 2*2.
    assert set(bm.closest_operations("4", {"SUM": "4", "MULTIPLY": "4", "SUBTRACT": "0"})) == {"SUM", "MULTIPLY"}


def test_word_op_answers():
    assert word_op_answer("DIVIDE", 845, 79, 9) == "10.696202531"  # truncated, as the blog's target
    assert word_op_answer("DIVIDE", 845, 79, 8) == "10.69620253"
    assert word_op_answer("DIVIDE", 2, 3, 2) == "0.66"  # truncated, not rounded to 0.67
    assert word_op_answer("DIVIDE", 6, 2, 2) == "3.00" and word_op_answer("DIVIDE", 6, 2, 0) == "3"
    assert word_op_answer("DIVIDE", -1, 300, 2) == "0.00"  # no "-0.00"
    assert word_op_answer("SUBTRACT", 190, 498, 0) == "-308"


BLOG = BLOG_OUTPUTS  # the blog's table (post 1)


def blog_score(op, a, b, decimals, output):
    task = WordOpsTask(decimals=decimals, n_train=10, n_test=10)
    target = task.answer(op, a, b)
    return score_answer(output, target, op=op, candidates=task.candidates(a, b), places=2)


def test_blog_targets_match_the_table():
    assert [blog_score(*row[:5]).target for row in BLOG] == ["10.696202531", "0.38034188", "958", "891210", "-308"]


def test_blog_845_div_79_correct_to_several_decimals():
    s = blog_score(*BLOG[0][:5])
    assert s.failure == "decimals" and s.decimal_places == 8 and s.decimal_match
    assert s.description == "right to 8 of 9 decimals, stopped early" and s.termination == "early"
    assert not s.exact and s.relative_error < 1e-9 and s.sign_correct and s.magnitude_correct
    assert s.digit_accuracy == pytest.approx(10 / 11) and s.operation_consistent


def test_blog_356_div_936_close_but_wrong_digits():
    s = blog_score(*BLOG[1][:5])
    assert s.failure == "close" and s.description == "numerically close (17% off), wrong digits"
    assert s.relative_error == pytest.approx(0.1677, abs=1e-4) and s.magnitude_correct and s.sign_correct
    assert s.decimal_places == 1 and s.decimal_match is False  # right to 1 place only, not 2
    assert s.digit_accuracy == pytest.approx(4 / 9) and s.operation_consistent


def test_blog_568_plus_390_exact():
    s = blog_score(*BLOG[2][:5])
    assert s.exact and s.failure == "exact" and s.digit_accuracy == 1.0 and s.termination == "ok"
    assert s.relative_error == 0.0 and s.operation_consistent and s.closest_operations == ("SUM",)


def test_blog_974_times_915_failed_termination():
    s = blog_score(*BLOG[3][:5])
    assert s.failure == "ran_on" and s.description == "right answer, then ran on (+10 chars)"
    assert s.termination == "ran_on" and s.correct_prefix == 6 and s.sign_correct
    assert not s.magnitude_correct and s.digit_accuracy == pytest.approx(1 / 16)  # loss-like metrics see a failure
    assert s.operation_consistent and s.closest_operations == ("MULTIPLY",)


def test_blog_190_minus_498_right_sign_magnitude_explosion():
    s = blog_score(*BLOG[4][:5])
    assert s.sign_correct and not s.magnitude_correct and s.relative_error > 1e5
    assert s.failure == "ran_on" and s.termination == "ran_on" and s.correct_prefix == 4
    assert s.operation_consistent and s.closest_operations == ("SUBTRACT",)


def test_post2_subtract_521_601_ran_on():
    s = score_answer("-808088512", "-80", op="SUBTRACT")
    assert s.failure == "ran_on" and s.sign_correct and s.termination == "ran_on"


@pytest.mark.parametrize(
    "answer,target,op,failure",
    [
        ("", "958", "SUM", "empty"),
        ("95", "958", "SUM", "early"),
        ("9x", "958", "SUM", "not_a_number"),
        ("1890", "891210", "MULTIPLY", "wrong_operation"),
        ("-958", "958", "SUM", "wrong_sign"),
        ("912", "958", "SUM", "close"),
        ("500", "958", "SUM", "sign_magnitude"),
        ("5000", "958", "SUM", "wrong_magnitude"),
        ("Rome", "Paris", None, "wrong"),
    ],
)
def test_failure_classes(answer, target, op, failure):
    cands = {"SUM": "1889", "SUBTRACT": "59", "MULTIPLY": "891210"} if op == "MULTIPLY" else None
    s = score_answer(answer, target, op=op, candidates=cands)
    assert s.failure == failure and failure in FAILURES


def test_no_stop_is_never_exact():
    s = score_answer("958", "958", stopped=False)
    assert not s.exact and s.failure == "ran_on" and s.termination == "ran_on"


def test_score_to_dict_is_json_ready():
    import json

    d = blog_score(*BLOG[3][:5]).to_dict()
    assert json.loads(json.dumps(d))["closest_operations"] == ["MULTIPLY"]
