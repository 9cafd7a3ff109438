"""``grokscope import``: a model trained elsewhere as an ordinary run folder.

The folder is what ``grokscope train`` writes, minus the resume state (there is no optimizer to
continue): ``run.json`` (the config, with the model's shape and input format, and where it came
from), ``ckpt/step_*.safetensors`` and a manifest of them, and ``metrics.jsonl`` when the source
kept losses. Every analysis then opens it as it opens a trained run.

What the weights tell is inferred (layers, heads, widths, positions, vocabulary, biases); what they
cannot tell comes from the caller: ``p`` when the vocabulary leaves it open, the Clock/Pizza blend
``attn_coeff`` and its bidirectional attention, the operation, and the train/test split (the
source's saved train indices, else ``frac``/``seed`` for grokscope's seeded split, else "all
pairs", said as such in the analysis).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from torch import Tensor

from grokscope.config.modular import IMPORTED, InputFormat, RunConfig, TrainConfig
from grokscope.imports.layouts import to_grokscope_state
from grokscope.imports.sources import Source, read_source
from grokscope.models.shape import ModelShape
from grokscope.store.files import save_tensors
from grokscope.store.folder import RunFolder, check_name_lengths
from grokscope.store.records import (
    CKPT_DIR,
    MANIFEST_FILE,
    METRICS_FILE,
    RUN_FILE,
    FileEntry,
    Manifest,
    checkpoint_name,
)
from grokscope.store.run import Run, run_info
from grokscope.tasks import ModularTask
from grokscope.tasks.modular import Op


@dataclass(frozen=True)
class ImportOptions:
    """What the weights cannot tell. ``None`` means "infer it" (``p``, ``input_format``) or "not given"."""

    p: int | None = None
    op: str = "add"
    input_format: str | None = None  # "a_b_eq" or "a_b"; inferred from the number of positions
    attn_coeff: float = 1.0
    attention_dir: str = "causal"  # "bidirectional" for the Clock/Pizza code
    act_fn: str | None = None  # default: the source config's, else relu
    frac: float | None = None
    seed: int | None = None
    train_indices: Sequence[int] | None = None


def import_model(src: str | Path, out: str | Path, options: ImportOptions = ImportOptions()) -> Run:
    """Convert the model (or series of checkpoints) at ``src`` into the run folder ``out`` and open it.

    ``out`` must not exist yet (or be empty). Raises a one-line ``ValueError`` for anything that
    does not fit: an unknown layout, shapes that disagree, a ``p`` or input format the vocabulary
    contradicts, a file that needs pickle, a series with duplicate epochs.
    """
    out = Path(out)
    check_name_lengths(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not empty: import into a new folder (--out)")
    try:
        source = read_source(src)
    except (TypeError, KeyError, AttributeError, IndexError) as e:  # a saved run of an unexpected shape
        raise ValueError(
            f"{src} is not laid out as a model or a saved run grokscope knows ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else '-'}): save its state dicts, epochs and losses "
            "as plain lists of tensors and numbers"
        ) from None
    return import_source(source, out, options, name=Path(src).name)


def import_source(
    source: Source, out: str | Path, options: ImportOptions = ImportOptions(), *, name: str = "memory"
) -> Run:
    """:func:`import_model` of a source already read (``name`` says where it came from in ``run.json``)."""
    out = Path(out)
    act_fn = options.act_fn or str((source.config or {}).get("act_fn", "relu"))
    converted = [
        (
            epoch,
            *to_grokscope_state(
                state, source.layout, attn_coeff=options.attn_coeff, attention_dir=options.attention_dir, act_fn=act_fn
            ),
        )
        for epoch, state in source.states
    ]
    shape = converted[0][2]
    if any(s != shape for _, _, s in converted):
        raise ValueError(f"{name}: the checkpoints of the series do not all have the same shapes")
    input_format, p = _format_and_p(shape, options)
    task = ModularTask(p=p, op=cast(Op, options.op), **_split(source, options, p))  # the task checks the op
    steps = _steps([epoch for epoch, _, _ in converted])
    config = RunConfig(
        task=task,
        preset=IMPORTED,
        seed=task.seed,
        model=shape,
        input_format=input_format,
        train=TrainConfig(steps=max(steps[-1], 1), stop_after_grok=None),
    )
    _write(RunFolder(out), config, source, steps, [state for _, state, _ in converted], name, options)
    return Run(out)


def _format_and_p(shape: ModelShape, options: ImportOptions) -> tuple[InputFormat, int]:
    """The input format (from the number of positions) and ``p`` (from the vocabulary), checked against the flags."""
    formats: dict[int, InputFormat] = {3: "a_b_eq", 2: "a_b"}
    inferred = formats.get(shape.n_ctx)
    if inferred is None:
        raise ValueError(f"the model reads {shape.n_ctx} positions; grokking models read [a, b, =] (3) or [a, b] (2)")
    if options.input_format is not None and options.input_format != inferred:
        raise ValueError(
            f"--input-format {options.input_format} contradicts the model: it reads {shape.n_ctx} "
            f"positions, i.e. {inferred}"
        )
    p = shape.d_vocab - 1 if inferred == "a_b_eq" else shape.d_vocab
    if options.p is not None and options.p != p:
        raise ValueError(
            f"--p {options.p} does not match the model's vocabulary ({shape.d_vocab} input tokens with "
            f"inputs {inferred}, i.e. p={p})"
        )
    if shape.d_vocab_out not in (p, p + 1):
        raise ValueError(
            f"the model predicts {shape.d_vocab_out} classes; a model of residues mod {p} predicts "
            f"{p} (or {p + 1} with '=')"
        )
    return inferred, p


def _split(source: Source, options: ImportOptions, p: int) -> dict[str, Any]:
    indices = options.train_indices if options.train_indices is not None else source.train_indices
    if indices is not None:
        if options.frac is not None:
            raise ValueError("give either the saved train indices or --frac, not both")
        pairs = tuple(int(i) for i in indices)
        n = p * (p - 1) if options.op == "div" else p * p
        return {
            "split": "given",
            "train_pairs": pairs,
            "frac": max(min(len(set(pairs)) / n, 0.999999), 1e-6),
            "seed": options.seed or 0,
        }
    if options.frac is not None:
        return {"frac": options.frac, "seed": options.seed or 0}
    return {"split": "all", "seed": options.seed or 0}


def _steps(epochs: list[int | None]) -> list[int]:
    if epochs == [None]:
        return [0]
    if any(e is None for e in epochs):
        raise ValueError("a series needs an epoch for every checkpoint")
    steps = [int(e) for e in epochs if e is not None]
    if len(set(steps)) != len(steps):
        raise ValueError("the series has duplicate epochs")
    if steps != sorted(steps):
        raise ValueError("the series' epochs are not in order")
    return steps


def _write(
    folder: RunFolder,
    config: RunConfig,
    source: Source,
    steps: list[int],
    states: list[dict[str, Tensor]],
    name: str,
    options: ImportOptions,
) -> None:
    folder.make_dirs()
    entries = []
    for step, state in zip(steps, states):
        size, sha = save_tensors(folder, (CKPT_DIR, checkpoint_name(step)), state, {"step": str(step)})
        entries.append(FileEntry(checkpoint_name(step), size, sha, step))
    rows = _metrics_rows(source, steps)
    folder.write_bytes(METRICS_FILE, data="".join(json.dumps(r) + "\n" for r in rows).encode())
    manifest = Manifest(tuple(entries), ())
    folder.write_json(MANIFEST_FILE, obj=manifest.to_json())
    origin = {
        "source": name,
        "layout": source.layout,
        "attn_coeff": options.attn_coeff,
        "attention_dir": options.attention_dir,
        "checkpoints": len(steps),
    }
    record = run_info(config, finished=True, imported_from=origin, final_step=steps[-1])
    folder.write_json(RUN_FILE, obj=record.to_json())


def _metrics_rows(source: Source, steps: list[int]) -> list[dict[str, Any]]:
    """One row per epoch the source logged losses for (the demo logs every epoch)."""
    train, test = source.train_losses, source.test_losses
    if not train and not test:
        return []
    n = max(len(train or []), len(test or []))
    rows = []
    for epoch in range(n):
        row: dict[str, Any] = {"step": epoch}
        if train and epoch < len(train):
            row["train_loss"] = float(train[epoch])
        if test and epoch < len(test) and len(test) == len(train or test):  # logged every epoch, like train
            row["test_loss"] = float(test[epoch])
        rows.append(row)
    return rows


__all__ = ["ImportOptions", "import_model", "import_source"]
