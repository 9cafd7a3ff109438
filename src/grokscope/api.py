"""Notebook entry points: keyword arguments instead of config objects.

>>> import grokscope as gs
>>> run = gs.train("mod97", steps=3000, stop_after_grok=None)   # doctest: +SKIP
>>> run = gs.train("arith", steps=2000)                          # doctest: +SKIP
"""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grokscope.config import LMRunConfig, RunConfig, config_from_options
from grokscope.store.run import Run
from grokscope.training.callbacks import Callback, ProgressBar

if TYPE_CHECKING:
    from grokscope.sweeps.handle import Sweep


def train(
    task: "str | RunConfig | LMRunConfig" = "mod97",
    *,
    out: str | Path = "checkpoints",
    name: str | None = None,
    device: str = "auto",
    preset: str | None = None,
    seed: int | None = None,
    init_from: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    **options: Any,
) -> Run:
    """Train a run of any task and return it (a folder that already holds this run is continued).

    ``task`` is a task name, or a whole run config (then no other option is taken from here).
    ``options`` are the task's (``op``, ``frac`` for ``mod<p>``; ``block_size``, ``facts_file``;
    ``ops``, ``operands``, ``decimals``, ``n_train``, ``n_test`` for ``wordops``) and the train
    config's fields (``steps``, ``lr``, ``weight_decay``, ``stop_after_grok``, ``warmup``, ...).
    Defaults are the task kind's, as on the command line. ``init_from`` (character-level tasks):
    a TransformerLens model folder to start from. ``progress`` shows a bar up to the step the run
    stops at (a widget in Jupyter with ipywidgets, text otherwise); ``progress=False`` trains quietly.
    """
    from grokscope.training.train import train as train_config

    init_state = None
    if isinstance(task, str):
        config, init_state = config_from_options(task, preset=preset, seed=seed, init_from=init_from, **options)
    elif options or preset is not None or seed is not None or init_from is not None:
        raise ValueError("train(config) takes the config as it is: set options in the config instead")
    else:
        config = task
    bars = [ProgressBar()] if progress else []
    try:
        return train_config(config, out, name=name, device=device, callbacks=[*callbacks, *bars], init_state=init_state)
    finally:  # a run stopped by an error or an interrupt leaves its bar where it stopped
        for bar in bars:
            bar.close()


def resume(
    run: str | Path | Run,
    *,
    steps: int | None = None,
    device: str = "auto",
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    **kwargs: Any,
) -> Run:
    """Continue a run from its newest checkpoint; ``steps`` (and ``stop_after_grok``) may move its end.
    ``progress`` as in :func:`train`."""
    from grokscope.training.train import resume as resume_run

    path = run.path if isinstance(run, Run) else Path(run)
    bars = [ProgressBar()] if progress else []
    try:
        return resume_run(path, steps=steps, device=device, callbacks=[*callbacks, *bars], **kwargs)
    finally:
        for bar in bars:
            bar.close()


def analyze_model(
    model: Any,
    *,
    p: int | None = None,
    input_format: str | None = None,
    op: str = "add",
    frac: float | None = None,
    seed: int | None = None,
    train_indices: Sequence[int] | None = None,
    attn_coeff: float = 1.0,
) -> Any:
    """The Fourier analysis (a :class:`~grokscope.analysis.fourier.pipeline.FourierAnalysis`) of one
    ``HookedTransformer`` in memory, as if it were an imported run with a single checkpoint.

    ``p`` and ``input_format`` (``"a_b_eq"`` or ``"a_b"``) are inferred from the model's
    vocabulary and positions unless given; the train/test split is ``train_indices`` (into the
    a-major list of pairs), else grokscope's seeded split of ``frac``, else every pair.

    >>> fa = gs.analyze_model(model, p=113)              # doctest: +SKIP
    >>> fa.key_frequencies                               # doctest: +SKIP
    """
    import tempfile

    from grokscope.analysis.fourier.pipeline import analyze_fourier
    from grokscope.imports.run_folder import ImportOptions, import_source
    from grokscope.imports.sources import Source
    from grokscope.models.build import model_state

    cfg = model.cfg
    source = Source(
        states=[(None, model_state(model))],
        config=None,
        train_losses=None,
        test_losses=None,
        train_indices=list(train_indices) if train_indices is not None else None,
        test_indices=None,
        layout="hooked",
    )
    options = ImportOptions(
        p=p,
        op=op,
        input_format=input_format,
        attn_coeff=attn_coeff,
        attention_dir=str(getattr(cfg, "attention_dir", "causal")),
        act_fn=str(getattr(cfg, "act_fn", "relu")),
        frac=frac,
        seed=seed,
    )
    with tempfile.TemporaryDirectory(prefix="grokscope-model-") as tmp:
        run = import_source(source, Path(tmp) / "model", options, name=type(model).__name__)
        return analyze_fourier(run, use_cache=False)


def sweep(
    task: str | Sequence[str] | None = None,
    *,
    out: str | Path | None = None,
    backend: str = "local",
    workers: int | None = None,
    threads: int = 1,
    device: str = "cpu",
    address: str | None = None,
    max_runs: int = 1000,
    progress: bool = True,
    **options: Any,
) -> "Sweep":
    """Train a grid of runs as one sweep and return its :class:`~grokscope.sweeps.handle.Sweep`.

    ``options`` are ``gs.train``'s, each a value, a list, or a string in the command line's
    syntax (``"0..4"``, ``"0.1:3:log6"``); the grid is the product of the listed ones. The sweep
    folder ``out`` defaults to ``checkpoints/sweep-<task>-<swept options>``; calling again with
    the same options continues it (finished runs are kept, interrupted ones resume).

    >>> sw = gs.sweep("mod97", frac=[0.3, 0.5], seed="0..2", steps=3000)   # doctest: +SKIP
    >>> sw.table()                                                        # doctest: +SKIP
    """
    from grokscope.sweeps.engine import default_out, run_sweep
    from grokscope.sweeps.handle import load_sweep
    from grokscope.sweeps.progress import SweepBar
    from grokscope.sweeps.spec import spec_from_options

    given = ({} if task is None else {"task": task}) | options
    spec = spec_from_options(given, max_runs=max_runs)
    folder = Path(out) if out is not None else default_out(spec)
    bar = SweepBar() if progress else None
    try:
        run_sweep(
            spec,
            folder,
            backend=backend,
            workers=workers,
            threads=threads,
            device=device,
            address=address,
            on_progress=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    return load_sweep(folder)


def load_sweep(path: str | Path) -> "Sweep":
    """Open a sweep folder: its runs, ``.table()`` (a DataFrame), ``.status()`` and ``.report()``."""
    from grokscope.sweeps.handle import load_sweep as load

    return load(path)


__all__ = ["analyze_model", "load_sweep", "resume", "sweep", "train"]
