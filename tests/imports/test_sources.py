"""Reading other codes' saved models: every format, without unpickling anything."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

from grokscope.imports.sources import read_source
from grokscope.models.state import initial_state
from grokscope.tasks import ModularTask


@dataclasses.dataclass
class PickledConfig:
    """Stands for any class a file can only be read back with by unpickling."""

    p: int = 7


def hooked(seed: int) -> dict[str, torch.Tensor]:
    return initial_state("grok1l", ModularTask(p=5), seed=seed)


def progress_measures(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shapes = {
        "embed.W_E": (8, 6),
        "pos_embed.W_pos": (3, 8),
        "blocks.0.attn.W_K": (2, 4, 8),
        "blocks.0.attn.W_Q": (2, 4, 8),
        "blocks.0.attn.W_V": (2, 4, 8),
        "blocks.0.attn.W_O": (8, 8),
        "blocks.0.mlp.W_in": (16, 8),
        "blocks.0.mlp.b_in": (16,),
        "blocks.0.mlp.W_out": (8, 16),
        "blocks.0.mlp.b_out": (8,),
        "unembed.W_U": (8, 6),
    }
    state = {k: torch.randn(s, generator=gen) for k, s in shapes.items()}
    return state | {"blocks.0.attn.mask": torch.tril(torch.ones(3, 3))}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def one_line_error(path, needle: str) -> str:
    with pytest.raises(ValueError) as exc:
        read_source(path)
    message = str(exc.value)
    assert "\n" not in message and needle in message, message
    return message


def test_a_folder_with_config_and_one_safetensors_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"n_layers": 1, "d_model": 128}))
    save_file(hooked(0), tmp_path / "model.safetensors")
    source = read_source(tmp_path)
    assert source.layout == "hooked" and source.config == {"n_layers": 1, "d_model": 128}
    assert len(source.states) == 1 and source.states[0][0] is None and same(source.states[0][1], hooked(0))
    assert source.train_losses is None and source.train_indices is None


def test_a_safetensors_series_is_dated_by_the_numbers_in_the_names(tmp_path):
    for step, seed in [(10, 1), (2, 2), (300, 3)]:
        save_file(hooked(seed), tmp_path / f"step_{step:06d}.safetensors")
    source = read_source(tmp_path)
    assert [e for e, _ in source.states] == [2, 10, 300] and source.config is None
    assert same(source.states[1][1], hooked(1))


def test_a_series_with_two_files_of_one_epoch_is_refused(tmp_path):
    save_file(hooked(0), tmp_path / "a_5.safetensors")
    save_file(hooked(1), tmp_path / "b_5.safetensors")
    one_line_error(tmp_path, "two checkpoints of epoch 5")


def test_a_series_file_without_a_number_is_refused(tmp_path):
    save_file(hooked(0), tmp_path / "last.safetensors")
    save_file(hooked(1), tmp_path / "step_1.safetensors")
    one_line_error(tmp_path, "last.safetensors has no epoch number in its name")


def test_a_single_safetensors_file(tmp_path):
    save_file(progress_measures(0), tmp_path / "model_18c9ev5v5p.safetensors")
    source = read_source(tmp_path / "model_18c9ev5v5p.safetensors")
    assert source.layout == "progress_measures" and source.states[0][0] is None


def test_a_torch_file_holding_a_state_dict(tmp_path):
    torch.save(progress_measures(0), tmp_path / "model.pt")
    source = read_source(tmp_path / "model.pt")
    assert source.layout == "progress_measures" and same(source.states[0][1], progress_measures(0))


def demo_run(final_seed: int = 2) -> dict:
    """The TransformerLens grokking demo's saved dict, its pickled config left out."""
    return {
        "model": hooked(final_seed),
        "checkpoints": [hooked(1), hooked(2)],
        "checkpoint_epochs": [99, 199],
        "train_losses": [4.7, 2.9],
        "test_losses": [4.73, 7.6],
        "train_indices": torch.tensor([3, 0, 7]),
        "test_indices": torch.tensor([1, 2]),
    }


def test_a_grokking_demo_run(tmp_path):
    torch.save(demo_run(), tmp_path / "grokking_demo.pth")
    source = read_source(tmp_path / "grokking_demo.pth")
    assert [e for e, _ in source.states] == [99, 199]  # the final model is the last checkpoint: kept once
    assert same(source.states[0][1], hooked(1))
    assert source.train_losses == [4.7, 2.9] and source.test_losses == [4.73, 7.6]
    assert source.train_indices == [3, 0, 7] and source.test_indices == [1, 2]


def test_a_final_model_after_the_last_checkpoint_is_kept_undated(tmp_path):
    torch.save(demo_run(final_seed=9), tmp_path / "run.pth")
    source = read_source(tmp_path / "run.pth")
    assert [e for e, _ in source.states] == [99, 199, None] and same(source.states[-1][1], hooked(9))


def test_the_demo_s_pickled_config_is_refused_by_name(tmp_path):
    from grokscope.models.build import tl_major

    if tl_major() >= 4:
        pytest.skip("TransformerLens 4.x has no HookedTransformerConfig to pickle; the 3.x run covers the demo")
    transformer_lens = pytest.importorskip("transformer_lens")
    cfg = transformer_lens.HookedTransformerConfig(
        n_layers=1, d_model=8, n_ctx=3, d_head=4, d_vocab=6, act_fn="relu", device="cpu"
    )
    torch.save(demo_run() | {"config": cfg}, tmp_path / "grokking_demo.pth")
    message = one_line_error(tmp_path / "grokking_demo.pth", "needs pickle to load")
    assert "it holds a HookedTransformerConfig object" in message
    assert "save its state_dict (and the config as JSON) instead" in message


def test_any_pickled_object_is_refused_without_running_it(tmp_path):
    torch.save({"model": hooked(0), "config": PickledConfig()}, tmp_path / "run.pth")
    message = one_line_error(tmp_path / "run.pth", "needs pickle to load (it holds a PickledConfig object")
    assert message.startswith(str(tmp_path / "run.pth"))


def test_a_full_run_data_file(tmp_path):
    run = {
        "state_dicts": [progress_measures(s) for s in range(3)],
        "epochs": [0, 100, 200],
        "train_losses": [4.0, 3.0, 2.0],
        "test_losses": [4.1],
    }
    torch.save(run, tmp_path / "full_run_data.pth")
    source = read_source(tmp_path / "full_run_data.pth")
    assert source.layout == "progress_measures" and [e for e, _ in source.states] == [0, 100, 200]
    assert source.test_losses == [4.1]  # as logged: its own cadence


def test_a_run_with_duplicate_checkpoint_epochs_is_refused(tmp_path):
    torch.save(demo_run() | {"checkpoint_epochs": [99, 99]}, tmp_path / "run.pth")
    one_line_error(tmp_path / "run.pth", "two checkpoints of epoch 99")


def test_checkpoints_and_epochs_must_pair_up(tmp_path):
    torch.save(demo_run() | {"checkpoint_epochs": [99]}, tmp_path / "run.pth")
    one_line_error(tmp_path / "run.pth", "holds 2 checkpoints but 1 checkpoint_epochs")


def test_a_progress_measures_run_folder(tmp_path):
    # The trainer's folder: init.pth, {epoch}.pth each after its step, final.pth with the curves.
    torch.save(
        {"model": progress_measures(0), "train_data": [(0, 1, 113)], "test_data": [(1, 1, 113)]}, tmp_path / "init.pth"
    )
    for epoch in (0, 100, 200):
        torch.save(
            {"model": progress_measures(epoch + 1), "train_loss": 1.0, "test_loss": 2.0, "epoch": epoch},
            tmp_path / f"{epoch}.pth",
        )
    torch.save(
        {
            "model": progress_measures(7),
            "train_losses": [3.0, 2.0],
            "test_losses": [3.5, 2.5],
            "epoch": 300,
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]},
        },
        tmp_path / "final.pth",
    )
    source = read_source(tmp_path)
    assert [e for e, _ in source.states] == [0, 100, 200]
    assert same(source.states[1][1], progress_measures(101))
    assert source.train_losses == [3.0, 2.0] and source.test_losses == [3.5, 2.5]


def test_a_folder_of_bare_per_epoch_state_dicts(tmp_path):
    for epoch in (5, 50):
        torch.save(hooked(epoch), tmp_path / f"{epoch}.pt")
    source = read_source(tmp_path)
    assert [e for e, _ in source.states] == [5, 50] and source.train_losses is None


def test_per_epoch_files_of_one_epoch_are_refused(tmp_path):
    torch.save(hooked(0), tmp_path / "1.pth")
    torch.save(hooked(1), tmp_path / "01.pth")
    one_line_error(tmp_path, "two checkpoints of epoch 1")


def test_a_per_epoch_file_whose_epoch_disagrees_with_its_name_is_refused(tmp_path):
    torch.save({"model": hooked(0), "epoch": 7}, tmp_path / "8.pth")
    one_line_error(tmp_path, "says it is epoch 7, its name says 8")


def test_a_folder_with_one_torch_file_and_a_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"attn_coeff": 0.5}))
    torch.save(progress_measures(0), tmp_path / "model_x.pt")
    source = read_source(tmp_path)
    assert source.config == {"attn_coeff": 0.5} and source.layout == "progress_measures"


def test_mixed_models_in_one_source_are_refused(tmp_path):
    save_file(hooked(0), tmp_path / "1.safetensors")
    save_file(progress_measures(0), tmp_path / "2.safetensors")
    one_line_error(tmp_path, "the checkpoint of epoch 2 is in the progress_measures layout, the first in hooked")


def test_unreadable_sources_say_what_is_wrong(tmp_path):
    one_line_error(tmp_path / "nothing.pth", "does not exist")
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    one_line_error(tmp_path / "garbage.pth", "not a torch file")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 16)
    one_line_error(tmp_path / "bad.safetensors", "is not a safetensors file")
    torch.save({"weights": [1, 2]}, tmp_path / "odd.pth")
    one_line_error(tmp_path / "odd.pth", "holds a dict with keys weights: neither a state dict nor a run")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    one_line_error(tmp_path / "list.pth", "holds a list, not a state dict")
    (tmp_path / "empty").mkdir()
    one_line_error(tmp_path / "empty", "holds no .safetensors file and no per-epoch torch files")
    (tmp_path / "bad_config").mkdir()
    (tmp_path / "bad_config" / "config.json").write_text("[1, 2]")
    one_line_error(tmp_path / "bad_config", "holds a JSON list, not an object of config fields")


def test_a_folder_mixing_safetensors_and_torch_files_is_refused(tmp_path):
    save_file(hooked(0), tmp_path / "1.safetensors")
    torch.save(hooked(1), tmp_path / "2.pth")
    one_line_error(tmp_path, "holds both .safetensors and torch files")


def test_unknown_keys_in_a_source_are_listed(tmp_path):
    torch.save({"encoder.weight": torch.zeros(2), "decoder.weight": torch.zeros(2)}, tmp_path / "model.pt")
    one_line_error(tmp_path / "model.pt", "match no known layout: encoder.weight, decoder.weight")
