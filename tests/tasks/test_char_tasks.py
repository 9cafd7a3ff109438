"""Character-level tasks: the paper's exact texts, vocabularies, held-out set and eval parsing."""

import pytest
import torch

from grokscope.tasks import CapitalsTask, CharArithTask, JointTask, get_char_task, get_task, task_from_dict
from grokscope.tasks.char_eval import arith_correct, arith_pairs
from grokscope.tasks.facts import read_facts
from grokscope.tasks.vocab import CharVocab

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def test_arith_text_is_the_papers():
    t = CharArithTask()
    assert len(t.lines) == 196 and len(t.text) == 1764 == 196 * 9
    assert all(len(line) == 9 and line.endswith("\n") and line.startswith("<") for line in t.lines)
    assert "<7+7=14>\n" in t.lines and "<2+5=7> \n" in t.lines and "<0-9=-9>\n" in t.lines
    assert t.vocab.chars == "\n +-0123456789<=>"  # 17 characters
    assert len(set(t.lines)) == 196


def test_held_out_is_exactly_the_four_5_7_expressions():
    t = CharArithTask()
    assert set(t.held_out_lines) == {"<5+7=12>\n", "<7+5=12>\n", "<5-7=-2>\n", "<7-5=2> \n"}
    all_lines = {f"<{a}{op}{b}=" for op in "+-" for a in range(10) for b in range(10)}
    present = {line[:5] for line in t.lines}
    assert all_lines - present == {"<5+7=", "<7+5=", "<5-7=", "<7-5="}
    assert not any(h in t.text for h in t.held_out_lines)


def test_capitals_and_joint_texts():
    c = CapitalsTask()
    assert len(c.facts) == 50 and c.facts[1] == ("the USA", "Washington DC")
    assert c.lines[0] == "Capital of France is Paris \n"
    assert c.vocab.size == 51 and len(c.text) == 1547
    assert c.block_size == 41  # "Capital of the Netherlands is Amsterdam \n"
    j = JointTask(block_size=24, allow_short_block=True)
    assert j.text == CharArithTask().text + c.text and len(j.text) == 3311
    assert j.vocab.size == 66 and j.batch_size == 576


def test_block_size_shorter_than_a_line_is_refused_unless_asked():
    with pytest.raises(ValueError, match="shorter than the longest line \\(41 characters"):
        CapitalsTask(block_size=24)
    with pytest.raises(ValueError, match="block size 8 is shorter than a line"):
        CharArithTask(block_size=8)
    assert CapitalsTask(block_size=24, allow_short_block=True).n_ctx == 24


def test_malformed_facts_file_names_the_line(tmp_path):
    f = tmp_path / "facts.txt"
    f.write_text("# comment\nCapital of Peru is Lima\n\nPeru: Lima\n")
    with pytest.raises(ValueError, match="facts.txt line 4: expected 'Capital of <country> is <capital>'"):
        read_facts(f)
    f.write_text("Capital of Peru is Lima\nCapital of Chile is Santiago\n")
    assert CapitalsTask(facts_file=str(f)).facts == (("Peru", "Lima"), ("Chile", "Santiago"))


def test_vocab_round_trip_and_unknown_character():
    v = CharVocab.from_text("hello world")
    assert v.chars == " dehlorw" and v.decode(v.encode("hello")) == "hello"
    with pytest.raises(ValueError, match="character 'f' is not in the vocabulary"):
        v.encode("fizz")
    with pytest.raises(ValueError, match="unique"):
        CharVocab("aa")


def test_windows_are_shifted_targets_of_the_text():
    t = CharArithTask()
    x, y = t.sample_batch(64, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (64, 9) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    stream = t.vocab.encode(t.text)
    for row_x, row_y in zip(x.tolist(), y.tolist()):
        s = t.vocab.decode(row_x + row_y[-1:])
        assert s in t.text
    assert len(stream) == 1764


def test_names_and_round_trip():
    assert get_task("arith") == CharArithTask()
    clean = get_char_task("capitals-clean")
    assert clean.eval_mode == "clean" and clean.eval_temperature == 0 and clean.eval_samples == 1
    for t in (CharArithTask(), clean, JointTask(block_size=24, allow_short_block=True)):
        assert task_from_dict(t.to_dict()) == t
    with pytest.raises(ValueError, match="unknown character-level task 'arith-foo'"):
        get_char_task("arith-foo")
    with pytest.raises(ValueError, match="unknown task 'arithx'"):
        get_task("arithx")


def test_eval_protocols():
    assert len(arith_pairs("paper")) == 91 and len(arith_pairs("clean")) == 100
    assert (5, 7) in arith_pairs("paper") and (3, 0) not in arith_pairs("paper") and (0, 0) in arith_pairs("paper")
    # The paper's regex reads the answer without needing the closing '>'; the clean mode needs it.
    assert arith_correct("paper", "<5+7=", "12  ", 12) and not arith_correct("clean", "<5+7=", "12  ", 12)
    assert arith_correct("clean", "<5-7=", "-2>\n", -2) and not arith_correct("paper", "<5-7=", "2>\n<", -2)
