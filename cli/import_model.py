"""``grokscope import``: a model trained elsewhere, as a run folder every analysis opens."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import exits_on_user_error, info

app = typer.Typer()

Opt = typer.Option


@app.command("import")
@exits_on_user_error
def import_cmd(
    src: Annotated[
        Path,
        typer.Argument(
            help="a .safetensors or torch file (state dict, or a saved run with its "
            "checkpoints), or a folder of them (with config.json)"
        ),
    ],
    out: Annotated[Path, Opt(help="the new run folder")],
    p: Annotated[Optional[int], Opt("--p", help="the modulus, when the vocabulary leaves it open")] = None,
    op: Annotated[str, Opt(help="the operation the model learned: add, sub, mul, div, ...")] = "add",
    input_format: Annotated[
        Optional[str], Opt(help="a_b_eq ([a, b, =]) or a_b ([a, b]); default: from the number of positions")
    ] = None,
    attn_coeff: Annotated[float, Opt(help="Clock/Pizza: the softmax share of attention (1 = plain softmax)")] = 1.0,
    bidirectional: Annotated[
        bool, Opt("--bidirectional", help="Clock/Pizza: the source never masks its attention")
    ] = False,
    act_fn: Annotated[Optional[str], Opt(help="the MLP activation (default: the source config's, else relu)")] = None,
    frac: Annotated[
        Optional[float], Opt(help="train fraction of grokscope's seeded split, when the source kept no train indices")
    ] = None,
    seed: Annotated[Optional[int], Opt(help="seed of that split")] = None,
) -> None:
    """Convert a grokking-family model trained elsewhere into a run folder (see the run-folder format)."""
    from grokscope.config import RunConfig
    from grokscope.imports.run_folder import ImportOptions, import_model

    if input_format is not None and input_format not in ("a_b_eq", "a_b"):
        raise ValueError(f"--input-format {input_format!r}: use a_b_eq or a_b")
    options = ImportOptions(
        p=p,
        op=op,
        input_format=input_format,
        attn_coeff=attn_coeff,
        attention_dir="bidirectional" if bidirectional else "causal",
        act_fn=act_fn,
        frac=frac,
        seed=seed,
    )
    run = import_model(src, out, options)
    config = run.config
    assert isinstance(config, RunConfig) and config.model is not None  # an imported mod<p> run has its shape
    shape = config.model
    info(
        f"{run.path}: {len(run.steps)} checkpoint(s) of a {shape.n_layers}-layer model ({shape.n_heads} heads, "
        f"d_model {shape.d_model}, d_mlp {shape.d_mlp}) on {config.task.name}, inputs {config.input_format}, "
        f"split {config.task.split}; analyse it with grokscope analyze fourier {run.path}"
    )
