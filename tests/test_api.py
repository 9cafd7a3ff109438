"""The notebook API: every name ``grokscope`` and ``grokscope.analysis`` list resolves."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["grokscope", "grokscope.analysis"])
def test_every_public_name_resolves(module):
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name
    with pytest.raises(AttributeError):
        getattr(mod, "no_such_name")


def test_score_answer_names_the_blogs_ran_on_failure():
    import grokscope as gs

    s = gs.score_answer("8912108912101025", "891210")
    assert s.termination == "ran_on" and not s.exact and s.correct_prefix == 6
