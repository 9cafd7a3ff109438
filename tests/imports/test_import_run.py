"""``grokscope import`` end to end: models trained or built elsewhere become runs every analysis opens.

- A model of the original progress-measures layout, trained here by a plain PyTorch script (not
  grokscope's trainer), in the ``[a, b]`` input format, is imported with its saved run data and
  analysed: it groks, its key frequencies are found and its accuracy over all p^2 pairs is the
  source's own.
- A model with planted Fourier structure, written in that layout, gives back exactly its planted
  key frequencies.
- A series of grokscope's own checkpoints, saved as a TransformerLens run would save them and
  imported with the same split, gives the same progress measures as the run itself.
"""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import grokscope as gs
from grokscope.analysis.fourier.pipeline import analyze_fourier
from grokscope.cli.main import app
from grokscope.imports.run_folder import ImportOptions, import_model
from grokscope.store.run import Run
from tests.analysis.fourier.test_basis import planted_model
from tests.conftest import one_line_error
from tests.imports.test_layouts import all_pairs, pm_forward

P, D_MODEL, HEADS, D_HEAD, D_MLP = 23, 64, 4, 16, 256


def to_progress_measures(state: dict[str, torch.Tensor], *, eq_class: bool) -> dict[str, torch.Tensor]:
    """A 1-layer grokscope state in the progress-measures layout (no attention biases there)."""
    b = "blocks.0."
    W_U = state["unembed.W_U"]
    if eq_class:  # that code's output layer also has the '=' class
        W_U = torch.cat([W_U, torch.zeros(W_U.shape[0], 1, dtype=W_U.dtype)], dim=1)
    return {
        "embed.W_E": state["embed.W_E"].T.contiguous(),
        "pos_embed.W_pos": state["pos_embed.W_pos"],
        b + "attn.W_K": state[b + "attn.W_K"].transpose(1, 2).contiguous(),
        b + "attn.W_Q": state[b + "attn.W_Q"].transpose(1, 2).contiguous(),
        b + "attn.W_V": state[b + "attn.W_V"].transpose(1, 2).contiguous(),
        b + "attn.W_O": state[b + "attn.W_O"].reshape(-1, state[b + "attn.W_O"].shape[-1]).T.contiguous(),
        b + "attn.mask": torch.tril(torch.ones(3, 3)),
        b + "mlp.W_in": state[b + "mlp.W_in"].T.contiguous(),
        b + "mlp.b_in": state[b + "mlp.b_in"],
        b + "mlp.W_out": state[b + "mlp.W_out"].T.contiguous(),
        b + "mlp.b_out": state[b + "mlp.b_out"],
        "unembed.W_U": W_U,
    }


def train_progress_measures_model(steps: int = 2000, frac: float = 0.8, seed: int = 0):
    """Train the progress-measures ``Transformer`` on ``a + b mod P`` from ``[a, b]`` (two positions, no
    ``=`` token) with that paper's recipe (AdamW, lr 1e-3, weight decay 1, full batch), checkpointing
    every 100 steps into its ``full_run_data`` layout. Plain PyTorch over :func:`pm_forward`."""
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape):
        return (torch.randn(shape, generator=gen) / math.sqrt(shape[-1])).requires_grad_()

    state = {
        "embed.W_E": draw(D_MODEL, P),
        "pos_embed.W_pos": draw(2, D_MODEL),
        "blocks.0.attn.W_K": draw(HEADS, D_HEAD, D_MODEL),
        "blocks.0.attn.W_Q": draw(HEADS, D_HEAD, D_MODEL),
        "blocks.0.attn.W_V": draw(HEADS, D_HEAD, D_MODEL),
        "blocks.0.attn.W_O": draw(D_MODEL, HEADS * D_HEAD),
        "blocks.0.mlp.W_in": draw(D_MLP, D_MODEL),
        "blocks.0.mlp.b_in": torch.zeros(D_MLP, requires_grad=True),
        "blocks.0.mlp.W_out": draw(D_MODEL, D_MLP),
        "blocks.0.mlp.b_out": torch.zeros(D_MODEL, requires_grad=True),
        "unembed.W_U": draw(D_MODEL, P),
    }
    mask = {"blocks.0.attn.mask": torch.tril(torch.ones(2, 2))}
    tokens = all_pairs(P, equals=False)
    labels = (tokens[:, 0] + tokens[:, 1]) % P
    perm = torch.randperm(P * P, generator=gen)
    train = perm[: int(frac * P * P)]
    opt = torch.optim.AdamW(state.values(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))
    run = {"state_dicts": [], "epochs": [], "train_losses": [], "test_losses": [], "train_indices": train.tolist()}
    for step in range(steps + 1):
        logits = pm_forward(state | mask, tokens[train])[:, -1]
        loss = F.cross_entropy(logits, labels[train])
        run["train_losses"].append(loss.item())
        if step % 100 == 0:
            run["state_dicts"].append({k: v.detach().clone() for k, v in (state | mask).items()})
            run["epochs"].append(step)
        if step < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    final = {k: v.detach() for k, v in state.items()} | mask
    with torch.no_grad():
        acc = (pm_forward(final, tokens)[:, -1].argmax(-1) == labels).double().mean().item()
    return run, acc


@pytest.fixture(scope="module")
def trained_elsewhere(tmp_path_factory):
    run_data, acc = train_progress_measures_model()
    path = tmp_path_factory.mktemp("elsewhere") / "full_run_data.pth"
    torch.save(run_data, path)
    return path, acc, run_data


def test_a_model_trained_elsewhere_imports_and_its_analysis_finds_the_algorithm(trained_elsewhere, tmp_path):
    path, source_acc, run_data = trained_elsewhere
    runner = CliRunner()
    done = runner.invoke(app, ["import", str(path), "--out", str(tmp_path / "imported")])
    assert done.exit_code == 0, done.stderr
    run = Run(tmp_path / "imported")
    assert run.config.input_format == "a_b" and run.config.task.p == P and run.config.task.split == "given"
    assert run.steps == run_data["epochs"] and len(run.metrics_rows()) == len(run_data["train_losses"])

    result = runner.invoke(app, ["analyze", "fourier", str(run.path), "--json", "--quiet"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["forward"] == "hooked"  # [a, b] inputs: the TransformerLens forward
    assert 1 <= len(summary["key_frequencies"]) <= 8, summary["key_frequencies"]
    n_train = len(run_data["train_indices"])
    all_acc = (n_train * summary["final"]["train_acc"] + (P * P - n_train) * summary["final"]["test_acc"]) / (P * P)
    assert source_acc > 0.99 and all_acc == pytest.approx(source_acc, abs=1e-12)
    fa = analyze_fourier(run)
    assert fa.measures["train_loss"].iloc[-1] == pytest.approx(run_data["train_losses"][-1], rel=1e-4)
    # Restricted loss falls before test loss does: the Fourier circuit is there before it generalises.
    assert fa.measures["restricted_loss"].iloc[-1] < 0.1 * fa.measures["restricted_loss"].iloc[0]


@pytest.mark.parametrize("eq_class", [False, True])
def test_planted_frequencies_in_the_original_layout_come_back_exactly(tmp_path, eq_class):
    planted = [4, 9]
    state = to_progress_measures({k: v.float() for k, v in planted_model(P, planted).items()}, eq_class=eq_class)
    torch.save(state, tmp_path / "planted.pt")
    run = import_model(tmp_path / "planted.pt", tmp_path / "run")
    fa = analyze_fourier(run)
    assert fa.key_frequencies == planted and fa.forward == "grid" and fa.split == "all"


def test_an_imported_series_gives_the_progress_measures_of_the_run_itself(tiny_run, tmp_path):
    own = analyze_fourier(tiny_run)
    series = {
        "checkpoints": [tiny_run.state_dict(s) for s in tiny_run.steps],
        "checkpoint_epochs": tiny_run.steps,
        "train_indices": tiny_run.task.dataset().train_idx.tolist(),
    }
    torch.save(series, tmp_path / "series.pth")
    run = import_model(tmp_path / "series.pth", tmp_path / "imported")
    fa = analyze_fourier(run)
    assert fa.key_frequencies == own.key_frequencies and fa.steps == own.steps
    cols = ["train_loss", "test_loss", "restricted_loss", "excluded_loss", "gini_embed", "sq_weights"]
    assert (fa.measures[cols].to_numpy() == own.measures[cols].to_numpy()).all()
    assert [ph.name for ph in fa.phases] == [ph.name for ph in own.phases]


def test_a_blended_model_imports_and_keeps_its_accuracy(tmp_path):
    """attn_coeff 0.5 (Clock/Pizza, unmasked): the imported run's accuracy is the source's own."""
    from tests.imports.test_layouts import pm_state

    state = pm_state(11, True, dtype=torch.float32)
    torch.save(state, tmp_path / "pizza.pt")
    run = import_model(
        tmp_path / "pizza.pt", tmp_path / "run", ImportOptions(attn_coeff=0.5, attention_dir="bidirectional", frac=0.5)
    )
    fa = analyze_fourier(run)
    tokens = all_pairs(11, equals=True)
    labels = (tokens[:, 0] + tokens[:, 1]) % 11
    logits = pm_forward(state, tokens, attn_coeff=0.5, causal=False)[:, -1, :11]
    data = run.task.dataset()
    hit = (logits.argmax(-1) == labels).double()
    assert fa.measures["test_acc"].iloc[-1] == pytest.approx(hit[data.test_idx].mean().item(), abs=1e-12)
    assert fa.forward == "hooked"


def test_analyze_model_in_a_notebook(tiny_run):
    model = tiny_run.model()
    fa = gs.analyze_model(model, train_indices=tiny_run.task.dataset().train_idx.tolist())
    own = analyze_fourier(tiny_run)
    assert fa.key_frequencies == own.key_frequencies and fa.steps == [0]
    # One checkpoint takes the fused forward, a stack the batched grid: the same maths, float32 rounding apart.
    assert fa.measures["test_loss"].iloc[-1] == pytest.approx(own.measures["test_loss"].iloc[-1], rel=1e-5)


@pytest.mark.parametrize(
    "case", ["unknown-layout", "needs-pickle", "p-mismatch", "duplicate-epochs", "not-empty", "bad-format"]
)
def test_bad_imports_are_one_line(tmp_path, case):
    state = to_progress_measures({k: v.float() for k, v in planted_model(P, [4]).items()}, eq_class=False)
    path, args, needle = tmp_path / "model.pt", [], ""
    if case == "unknown-layout":
        torch.save({"encoder.weight": torch.zeros(3, 3), "decoder.bias": torch.zeros(3)}, path)
        needle = "encoder.weight"
    elif case == "needs-pickle":
        torch.save({"model": state, "config": ImportOptions()}, path)
        needle = "pickle"
    elif case == "p-mismatch":
        torch.save(state, path)
        args, needle = ["--p", "29"], "does not match"
    elif case == "duplicate-epochs":
        torch.save({"state_dicts": [state, state], "epochs": [5, 5]}, path)
        needle = "two checkpoints of epoch 5"
    elif case == "not-empty":
        torch.save(state, path)
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "keep.txt").write_text("mine")
        needle = "not empty"
    else:
        torch.save(state, path)
        args, needle = ["--input-format", "a_b"], "contradicts"
    result = CliRunner().invoke(app, ["import", str(path), "--out", str(tmp_path / "run"), *args])
    one_line_error(result, needle)
    if case == "not-empty":
        assert (tmp_path / "run" / "keep.txt").read_text() == "mine"
    else:
        assert not (tmp_path / "run").exists()
