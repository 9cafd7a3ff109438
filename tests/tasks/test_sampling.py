"""generate(): batched equals one prompt at a time, greedy equals a hand-written argmax loop."""

import pytest
import torch

from grokscope.models.build import build_model
from grokscope.tasks import CharArithTask
from grokscope.tasks.sampling import generate, pick_tokens

TASK = CharArithTask()
PROMPTS = ["<5+7=", "<1-", "<5+7=", "<9-9=0> \n<3+", "<", "<2+2=4> \n<7-5=2> \n<1+"]  # two longer than n_ctx=9


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_model("n14", TASK, seed=3)
    with torch.no_grad():  # a random model with sharper logits: distinct greedy picks, still varied samples
        for p in m.parameters():
            if p.requires_grad:
                p.mul_(3)
    return m


@pytest.mark.parametrize("temperature,top_k", [(0.0, None), (1.0, None), (1.0, 3)])
def test_batched_equals_one_at_a_time(model, temperature, top_k):
    batched = generate(
        model, PROMPTS, TASK.vocab, 6, temperature=temperature, top_k=top_k, generator=torch.Generator().manual_seed(7)
    )
    g = torch.Generator().manual_seed(7)
    single = [
        generate(model, [p], TASK.vocab, 6, temperature=temperature, top_k=top_k, generator=g)[0] for p in PROMPTS
    ]
    assert batched == single and all(len(s) == 6 for s in batched)
    if temperature > 0:  # sampling really samples: the two equal prompts got different continuations
        assert batched[0] != batched[2]


def test_greedy_is_argmax_with_nanogpt_cropping(model):
    got = generate(model, ["<2+2=4> \n<7-5=2"], TASK.vocab, 5, temperature=0)[0]
    ids = TASK.vocab.encode("<2+2=4> \n<7-5=2")
    for _ in range(5):
        logits = model(torch.tensor([ids[-9:]]))[0, -1]  # context cropped to the last n_ctx tokens
        ids.append(int(logits.argmax()))
    assert got == TASK.vocab.decode(ids[-5:])


def test_stop_truncates_and_mode_is_restored(model):
    model.train()
    full = generate(model, ["<3+"], TASK.vocab, 8, temperature=0)[0]
    stop = full[2]
    cut = generate(model, ["<3+"], TASK.vocab, 8, temperature=0, stop=stop)[0]
    assert cut == full.split(stop, 1)[0] and model.training
    model.eval()


def test_top_k_and_bad_arguments():
    logits = torch.tensor([[0.0, 5.0, 4.0, -1.0]])
    picks = {int(pick_tokens(logits, 100.0, 2, torch.tensor([u], dtype=torch.float64))) for u in (0.01, 0.5, 0.99)}
    assert picks == {1, 2}  # only the two largest logits can be drawn
    m = build_model("n14", TASK, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        generate(m, ["<1"], TASK.vocab, 2, temperature=-1)
    with pytest.raises(ValueError, match="character 'x' is not in the vocabulary"):
        generate(m, ["<x"], TASK.vocab, 2)
