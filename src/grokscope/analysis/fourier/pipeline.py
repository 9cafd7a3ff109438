"""The whole Fourier analysis of a run, cached in the run folder.

``analyze_fourier(run)`` stacks every readable checkpoint, finds the key frequencies of the last
one, computes the progress measures at every checkpoint (:mod:`.progress_measures`), places the
phases and writes the handover summary (:mod:`.phases`). The result is cached as
``<run>/analysis/fourier.json`` (small values, measures table) and ``fourier.safetensors``
(per-frequency arrays), never pickle. The cache is keyed by a fingerprint of ``run.json``,
``manifest.json``, the size and mtime of every checkpoint file, the options and
:data:`ANALYSIS_VERSION`, so it is recomputed whenever a checkpoint is added or changed.

Reading a valid cache imports neither torch nor TransformerLens, so a second call is instant.
"""

import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from grokscope.analysis.cyclic import check_cyclic
from grokscope.analysis.fourier.phases import Phase, detect_phases, handover_summary
from grokscope.store.folder import RunFolder
from grokscope.store.records import CKPT_DIR
from grokscope.store.run import Run, is_run_dir

if TYPE_CHECKING:
    from grokscope.analysis.fourier.results import FinalSpectra, FrequencyTracks

ANALYSIS_VERSION = 1
CACHE_DIR, CACHE_JSON, CACHE_ARRAYS = "analysis", "fourier.json", "fourier.safetensors"
# The columns shown as "final measures" in summaries.
FINAL_COLUMNS = (
    "train_loss",
    "test_loss",
    "train_acc",
    "test_acc",
    "restricted_loss",
    "excluded_loss",
    "gini_embed",
    "gini_logit_map",
    "sq_weights",
    "sq_embed",
    "sq_pos_embed",
    "sq_attn",
    "sq_mlp",
    "sq_unembed",
)


@dataclass(frozen=True, eq=False)
class FourierAnalysis:
    """Everything the Fourier analysis found about one run (see :func:`analyze_fourier`).

    ``measures``: one row per analysed checkpoint (index ``step``); ``skipped``: unreadable
    checkpoints with the reason; ``checks``: the key frequencies' share of the Fourier energy of
    ``W_E`` and ``W_L`` and the frequencies strong in each (a weights-only cross-check).
    """

    run: str
    path: str
    task: str
    p: int
    op: str
    n_train: int
    key_frequencies: list[int]
    measures: pd.DataFrame
    phases: tuple[Phase, ...]
    handover: str
    tracks: "FrequencyTracks"
    final: "FinalSpectra"
    checks: dict[str, Any]
    skipped: list[tuple[int, str]] = field(default_factory=list)
    elapsed_s: float = 0.0
    cached: bool = False
    fingerprint: str = ""
    forward: str = "grid"  # which forward computed the activations: "grid" (fast) or "hooked" (TransformerLens)
    split: str = "random"  # the run's train/test split: "random", "given" (imported), "all" (unknown)
    basis: str = ""  # the residues analysed: "residues mod p", or the discrete-log view of a mul/div run

    @property
    def steps(self) -> list[int]:
        return [int(s) for s in self.measures.index]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: key frequencies, phases, final measures, handover, skipped steps."""
        last = self.measures.iloc[-1]
        return {
            "run": self.run,
            "path": self.path,
            "task": self.task,
            "p": self.p,
            "checkpoints": len(self.measures),
            "first_step": self.steps[0],
            "last_step": self.steps[-1],
            "key_frequencies": list(self.key_frequencies),
            "phases": [ph.to_dict() for ph in self.phases],
            "final": {"step": self.steps[-1], **{c: _finite(last[c]) for c in FINAL_COLUMNS if c in last}},
            "checks": self.checks,
            "handover": self.handover,
            "skipped": [{"step": s, "reason": r} for s, r in self.skipped],
            "cached": self.cached,
            "elapsed_s": round(self.elapsed_s, 3),
            "forward": self.forward,
            "split": self.split,
            "basis": self.basis,
            "op": self.op,
        }


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def run_dirs(path: str | Path) -> list[Path]:
    """The run folder ``path`` itself, or the run folders directly inside it, sorted by name."""
    path = Path(path)
    if is_run_dir(path):
        return [path]
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
    runs = sorted(p for p in path.iterdir() if not p.is_symlink() and is_run_dir(p))  # links: see run_folders
    if not runs:
        raise ValueError(f"no runs in {path}: train one with grokscope train --out {path}")
    return runs


def fingerprint(run: Run, options: dict[str, Any]) -> str:
    """Changes when the run's config, manifest, any checkpoint file, the options or the analysis code change."""
    h = hashlib.sha256(f"grokscope-fourier-{ANALYSIS_VERSION}".encode())
    h.update(_code_hash())
    h.update(json.dumps(options, sort_keys=True).encode())
    # Where the run stops (steps, stop_after_grok) is left out: moving it changes no checkpoint, and a
    # resume that trains on adds checkpoints, which the manifest and the files below catch.
    config = dict(run.record.config)
    config["train"] = {k: v for k, v in dict(config.get("train", {})).items() if k not in run.config.endpoint_fields}
    h.update(json.dumps(config, sort_keys=True).encode())
    manifest = run.manifest()
    h.update(json.dumps(manifest.to_json(), sort_keys=True).encode())
    for e in manifest.checkpoints:
        st = run.folder.size_and_mtime(CKPT_DIR, e.file) or (-1, -1)
        h.update(f"{e.file}:{st[0]}:{st[1]}".encode())
    return h.hexdigest()


@lru_cache(maxsize=1)
def _code_hash() -> bytes:
    # The analysis code itself is part of the key: editing a rule must not serve stale results.
    # So is the model's forward on the grid, which lives with the model (models/grok1l/).
    here = Path(__file__).parent
    model = here.parents[1] / "models" / "grok1l"
    h = hashlib.sha256()
    for path in (
        *(
            here / n
            for n in (
                "basis.py",
                "progress_measures.py",
                "measure_kernels.py",
                "phases.py",
                "results.py",
                "pipeline.py",
            )
        ),
        *(model / n for n in ("grid.py", "fused.py", "gather_kernels.py", "params.py")),
    ):
        h.update(path.read_bytes())
    return h.digest()


def _options(key_freqs: list[int] | None) -> dict[str, Any]:
    from grokscope.analysis.fourier.phases import PhaseRule
    from grokscope.analysis.fourier.results import KeyFrequencyRule

    return {"key_freqs": key_freqs, "rule": asdict(KeyFrequencyRule()), "phases": asdict(PhaseRule())}


def analyze_fourier(
    run: "Run | str | Path",
    *,
    p: int | None = None,
    key_freqs: list[int] | None = None,
    use_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> FourierAnalysis:
    """The Fourier analysis of a run of the 1-layer model on ``a + b`` (or ``a - b``) mod p.

    ``p`` (optional) must match the run's task and checkpoints; ``key_freqs`` overrides the
    automatic key frequencies. Raises ``ValueError`` for a task without cyclic structure, a
    model other than the 1-layer ReLU one, a ``p`` that does not fit the checkpoints, or a run
    without a single readable checkpoint. Unreadable checkpoints among good ones are skipped and
    listed in ``FourierAnalysis.skipped``. The process is left as it was found: for the command
    line's speed, call it inside ``grokscope.runtime.speed_settings()``.
    """
    run = run if isinstance(run, Run) else Run(run)
    if run.is_lm:
        raise ValueError(
            f"{run.name} is a character-level run ({run.task.name}): the Fourier analysis is for "
            f"mod<p> runs; use grokscope analyze behavior {run.path}"
        )
    task = run.config.task
    check_cyclic(task.op, run.name)
    if p is not None and p != task.p:
        vocab = _checkpoint_vocabulary(run)
        seen = f"; its checkpoints have {vocab[0]} input tokens and {vocab[1]} output classes" if vocab else ""
        raise ValueError(
            f"p={p} does not match {run.name}: its task has p={task.p}{seen} (pass --p {task.p} or leave it out)"
        )
    options = _options(key_freqs)  # p is the task's: checked above
    key = fingerprint(run, options)
    if use_cache:
        hit = load_cached(run.path, key)
        if hit is not None:
            return hit
    result = replace(_compute(run, p=p, key_freqs=key_freqs, progress=progress), fingerprint=key)
    try:
        save_cache(result, run.path, key)
    except (OSError, ValueError) as e:  # a read-only folder, a link where the cache goes: still returned
        warnings.warn(
            f"the analysis of {run.name} is not cached ({str(e).splitlines()[0]})", RuntimeWarning, stacklevel=2
        )
    return result


def _checkpoint_vocabulary(run: Run) -> tuple[int, int] | None:
    """(input tokens, output classes) from the first checkpoint's safetensors header, without torch."""
    import struct

    from grokscope.models.grok1l.names import STATE_NAMES

    try:
        entry = run.manifest().checkpoints[0]
        head = run.folder.read_head(CKPT_DIR, entry.file, size=8)
        (n,) = struct.unpack("<Q", head)
        header = json.loads(run.folder.read_head(CKPT_DIR, entry.file, size=8 + min(n, 1 << 20))[8:])
        return header[STATE_NAMES["W_E"]]["shape"][0], header[STATE_NAMES["W_U"]]["shape"][1]
    except (OSError, ValueError, KeyError, IndexError, TypeError, struct.error):
        return None


def _compute(
    run: Run, *, p: int | None, key_freqs: list[int] | None, progress: Callable[[int, int], None] | None
) -> FourierAnalysis:
    import torch

    from grokscope.analysis.fourier.basis import energy_share, strong_frequencies
    from grokscope.analysis.fourier.progress_measures import check_vocabulary, progress_measures
    from grokscope.analysis.model_view import model_view
    from grokscope.models.grok1l.params import as_params

    t0 = time.perf_counter()
    task = run.task
    check_cyclic(task.op, task.name)
    try:
        view = model_view(run.config)
    except ValueError as e:
        raise ValueError(f"{run.name}: {e}") from None
    op = view.op  # mul and div are analysed as add and sub of discrete logarithms
    if not run.steps:
        raise ValueError(f"{run.name} has no checkpoints yet")
    stack = run.stack()
    if not stack.steps:
        reasons = "; ".join(f"step {s}: {r}" for s, r in stack.skipped[:3])
        raise ValueError(f"{run.name}: no readable checkpoint ({reasons})")
    if p is not None and p != task.p:
        raise ValueError(f"p={p} does not match the run's task {task.name}")
    p = view.p
    eq_token = view.input_format == "a_b_eq"
    params = view.params(stack.params)
    check_vocabulary(as_params(params), p, eq_token=eq_token)
    data = view.dataset(task)
    if len(data.a) != p * p:
        raise ValueError(f"{task.name}: the analysis needs all p^2 pairs")
    with torch.inference_mode():
        pm = progress_measures(
            stack.steps,
            params,
            p,
            data.labels,
            data.train_idx,
            data.test_idx,
            op=op,
            key_freqs=key_freqs,
            progress=progress,
            forward=view.forward(),
            eq_token=eq_token,
        )
    keys = pm.key_frequencies
    phases = detect_phases(pm.measures, has_key_frequencies=bool(keys))
    handover = handover_summary(pm.measures, phases, keys, p=p, n_train=len(data.train_idx))
    e_norms = torch.from_numpy(pm.tracks.embed_norms[-1])
    l_norms = torch.from_numpy(pm.tracks.logit_map_norms[-1])
    checks = {
        "embed_share": float(energy_share(e_norms, keys)) if keys else 0.0,
        "logit_map_share": float(energy_share(l_norms, keys)) if keys else 0.0,
        "embed_strong": strong_frequencies(e_norms),
        "logit_map_strong": strong_frequencies(l_norms),
    }
    return FourierAnalysis(
        run=run.name,
        path=str(run.path),
        task=task.name,
        p=p,
        op=op,
        n_train=len(data.train_idx),
        key_frequencies=keys,
        measures=pm.measures,
        phases=phases,
        handover=handover,
        tracks=pm.tracks,
        final=pm.final,
        checks=checks,
        skipped=list(stack.skipped),
        elapsed_s=time.perf_counter() - t0,
        forward=view.path,
        split=getattr(task, "split", "random"),
        basis=view.describe(),
    )


# ---------------------------------------------------------------------------------------------
# Cache: JSON for the small things and the measures, safetensors (numpy) for the arrays.

_TRACK_ARRAYS = ("neuron_clusters", "neuron_share", "embed_norms", "logit_map_norms", "logit_share", "key_mask")
_FINAL_ARRAYS = ("embed_components", "logit_map_components", "neuron_fve", "neuron_variance", "logit_spectrum")


def save_cache(result: FourierAnalysis, run_dir: Path, key: str) -> None:
    from safetensors.numpy import save

    folder = RunFolder(run_dir)
    arrays = {f"tracks.{n}": np.ascontiguousarray(getattr(result.tracks, n)) for n in _TRACK_ARRAYS}
    arrays |= {f"final.{n}": np.ascontiguousarray(getattr(result.final, n)) for n in _FINAL_ARRAYS}
    blob = save(arrays, metadata={"fingerprint": key})
    meta = {
        "fingerprint": key,
        "version": ANALYSIS_VERSION,
        "arrays_sha256": hashlib.sha256(blob).hexdigest(),
        "run": result.run,
        "path": result.path,
        "task": result.task,
        "p": result.p,
        "op": result.op,
        "n_train": result.n_train,
        "key_frequencies": result.key_frequencies,
        "phases": [ph.to_dict() for ph in result.phases],
        "handover": result.handover,
        "checks": result.checks,
        "skipped": [[s, r] for s, r in result.skipped],
        "elapsed_s": result.elapsed_s,
        "forward": result.forward,
        "split": result.split,
        "basis": result.basis,
        "final_step": result.final.step,
        "measures": {"step": result.steps, **{c: result.measures[c].tolist() for c in result.measures.columns}},
    }
    # Arrays first, then the JSON that points at them (by hash): a torn write is a cache miss.
    folder.write_bytes(CACHE_DIR, CACHE_ARRAYS, data=blob)
    folder.write_bytes(CACHE_DIR, CACHE_JSON, data=json.dumps(meta).encode())


def _cache_problem(meta: dict[str, Any]) -> str | None:
    """What is wrong with a cache's JSON (types and ranges of everything a reader uses), or None."""

    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    p = meta.get("p")
    if not (isinstance(p, int) and not isinstance(p, bool) and 3 <= p <= 100_000):
        return "p"
    keys = meta.get("key_frequencies")
    if not isinstance(keys, list) or not all(isinstance(k, int) and 1 <= k <= p // 2 for k in keys):
        return "key_frequencies"
    cols = meta.get("measures")
    if not isinstance(cols, dict) or not isinstance(cols.get("step"), list) or not cols["step"]:
        return "measures"
    n = len(cols["step"])
    if not all(isinstance(v, list) and len(v) == n and all(x is None or number(x) for x in v) for v in cols.values()):
        return "measures"
    if any(col not in cols or None in cols[col] for col in FINAL_COLUMNS if col != "step"):
        return "measures"
    phases = meta.get("phases")
    if not isinstance(phases, list) or not all(
        isinstance(ph, dict)
        and isinstance(ph.get("name"), str)
        and isinstance(ph.get("start"), int)
        and isinstance(ph.get("end"), int)
        for ph in phases
    ):
        return "phases"
    checks = meta.get("checks")
    if not isinstance(checks, dict) or not all(number(checks.get(k)) for k in ("embed_share", "logit_map_share")):
        return "checks"
    text = ("run", "task", "op", "handover", "fingerprint")
    if not all(isinstance(meta.get(k), str) for k in text) or not isinstance(meta.get("skipped"), list):
        return "its text fields"
    if not all(number(meta.get(k)) for k in ("n_train", "final_step", "elapsed_s")):
        return "its numbers"
    return None


def load_cached(run_dir: str | Path, key: str | None = None) -> FourierAnalysis | None:
    """The cached analysis of ``run_dir`` if it is there, whole, and (when ``key`` is given) current."""
    from safetensors.numpy import load

    from grokscope.analysis.fourier.results import FinalSpectra, FrequencyTracks

    folder = RunFolder(run_dir)
    try:
        meta = json.loads(folder.read_bytes(CACHE_DIR, CACHE_JSON))
        blob = folder.read_bytes(CACHE_DIR, CACHE_ARRAYS)
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as e:  # a link, not JSON: derived data, so computed and written anew
        warnings.warn(
            f"{folder.path(CACHE_DIR, CACHE_JSON)} is damaged ({str(e).splitlines()[0][:120]}): the "
            "analysis is computed again",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    if meta.get("version") != ANALYSIS_VERSION or (key is not None and meta.get("fingerprint") != key):
        return None
    problem = _cache_problem(meta)
    if problem is not None:  # hand-edited or written by someone else: never trusted, computed again
        warnings.warn(
            f"{folder.path(CACHE_DIR, CACHE_JSON)} is damaged ({problem}): the analysis is computed again",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    if hashlib.sha256(blob).hexdigest() != meta.get("arrays_sha256"):
        return None
    try:
        arrays = load(blob)
        cols = dict(meta["measures"])
        steps = cols.pop("step")
        measures = pd.DataFrame(cols, index=pd.Index(steps, name="step"))
        tracks = FrequencyTracks(steps=list(steps), **{n: arrays[f"tracks.{n}"] for n in _TRACK_ARRAYS})
        final = FinalSpectra(step=meta["final_step"], **{n: arrays[f"final.{n}"] for n in _FINAL_ARRAYS})
        return FourierAnalysis(
            run=meta["run"],
            path=str(Path(run_dir)),
            task=meta["task"],
            p=meta["p"],
            op=meta["op"],
            n_train=meta["n_train"],
            key_frequencies=meta["key_frequencies"],
            measures=measures,
            phases=tuple(Phase(**ph) for ph in meta["phases"]),
            handover=meta["handover"],
            tracks=tracks,
            final=final,
            checks=meta["checks"],
            skipped=[(int(s), str(r)) for s, r in meta["skipped"]],
            elapsed_s=meta["elapsed_s"],
            cached=True,
            fingerprint=meta["fingerprint"],
            forward=str(meta.get("forward", "grid")),
            split=str(meta.get("split", "random")),
            basis=str(meta.get("basis", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


__all__ = [
    "ANALYSIS_VERSION",
    "FourierAnalysis",
    "analyze_fourier",
    "check_cyclic",
    "fingerprint",
    "load_cached",
    "run_dirs",
    "save_cache",
]
