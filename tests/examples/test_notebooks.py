"""The example notebooks (``examples/*.ipynb``): each runs end to end from a fresh kernel at a tiny
size (its ``parameters`` cell replaced), and the committed files hold no outputs.

The kernel is this interpreter (``sys.executable``), whatever kernel spec named ``python3`` the
machine has installed: a kernel spec manager made here hands it out, nothing is installed.
"""

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

# The notebooks go through the public API, whose TransformerLens-facing parts both passes test: once
# (in the 3.x pass) is enough for the notebooks themselves.
pytestmark = pytest.mark.skipif(
    os.environ.get("GROKSCOPE_EXPECT_TL") == "4", reason="the notebooks run in the TransformerLens 3.x pass"
)

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402 - after the import checks
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from traitlets import default  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLOTLY = "application/vnd.plotly.v1+json"
PROBE = "NOTEBOOK-PROBE "

# Each notebook's parameters at test size (seconds of training); OUT is added per test. a+b mod 23 on
# 90% of the pairs groks by step ~400, so the analysis finds key frequencies and all three phases.
# arith-clean: the same task, scored greedily once per prompt (the paper's protocol samples each
# of its 182 prompts 10 times at every evaluation, seconds each).
TINY = {
    "grokking_mod97.ipynb": dict(
        TASK="mod23", FRAC=0.9, SEED=0, STEPS=1_000, STOP_AFTER_GROK=50, RUN=None, DEVICE="cpu"
    ),
    "capacity_suite.ipynb": dict(
        TASK="arith-clean",
        PRESET="n14",
        STEPS=60,
        SEED=1337,
        TRAIN_OPTIONS={"eval_every": 20, "eval_iters": 2, "ckpt_every": 20, "batch_size": 64},
        RUN=None,
        DEVICE="cpu",
        BEHAVIOR_CHECKPOINTS=3,
        BEHAVIOR_PER_GROUP=5,
    ),
}

# Appended to each notebook under test: what its variables hold at the end, printed as one JSON line.
PROBES = {
    "grokking_mod97.ipynb": """
import json, sys
print("NOTEBOOK-PROBE " + json.dumps({
    "python": sys.executable,
    "p": run.task.p,
    "grok_step": run.grok_step,
    "key_frequencies": fa.key_frequencies,
    "phases": [ph.name for ph in fa.phases],
    "checkpoints": len(fa.steps),
    "share_generalizing_last": float(ablation.table["share_generalizing"].iloc[-1]),
    "importance": sorted(int(k) for k in ablation.importance.table.index),
}))
""",
    "capacity_suite.ipynb": """
import json, sys
print("NOTEBOOK-PROBE " + json.dumps({
    "python": sys.executable,
    "preset": run.config.preset,
    "last_step": run.steps[-1],
    "heldout_total": int(metrics["heldout_total"].iloc[-1]),
    "behavior_steps": behavior.steps,
    "splits": behavior.splits,
    "groups": behavior.groups,
}))
""",
}


class ThisPythonSpecs(KernelSpecManager):
    """Every kernel name is this interpreter's ipykernel."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python ({sys.executable})",
            language="python",
            name=kernel_name,
        )


class ThisPythonKernel(AsyncKernelManager):
    @default("kernel_spec_manager")
    def _this_python(self) -> KernelSpecManager:
        return ThisPythonSpecs()


def read(name: str):
    return nbformat.read(EXAMPLES / name, as_version=4)


def parameter_cells(nb) -> list:
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


def tiny_source(params: dict) -> str:
    return "\n".join(f"{k} = {v!r}" for k, v in params.items())


def test_every_notebook_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.ipynb")) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_committed_notebook_is_clean(name):
    """No outputs in git: no outputs, no execution counts, no execution timings; one parameters cell
    that sets at least every name the tests override."""
    nb = read(name)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name} cell {i} has outputs: strip them"
            assert cell.execution_count is None, f"{name} cell {i} has an execution count: strip it"
        assert "execution" not in cell.metadata, f"{name} cell {i} has execution timings: strip them"
    params = parameter_cells(nb)
    assert len(params) == 1, f"{name} needs exactly one cell tagged 'parameters'"
    assert nb.cells.index(params[0]) <= 3, "the parameters cell belongs near the top"
    set_there = {line.split("=")[0].strip() for line in params[0].source.splitlines() if "=" in line}
    assert set(TINY[name]) | {"OUT"} <= set_there


@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_runs_tiny(name, tmp_path):
    nb = read(name)
    parameter_cells(nb)[0].source = tiny_source(TINY[name] | {"OUT": str(tmp_path / "runs")})
    nb.cells.append(nbformat.v4.new_code_cell(PROBES[name]))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        kernel_manager_class=ThisPythonKernel,
        timeout=180,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    probe = [
        line
        for o in nb.cells[-1].outputs
        if o.output_type == "stream" and o.name == "stdout"
        for line in o.text.splitlines()
        if line.startswith(PROBE)
    ]
    assert len(probe) == 1, nb.cells[-1].outputs
    got = json.loads(probe[0].removeprefix(PROBE))
    assert got["python"] == sys.executable  # the kernel is this interpreter, not whatever "python" is on PATH
    figures = sum(PLOTLY in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if name == "grokking_mod97.ipynb":
        assert got["p"] == 23 and got["grok_step"] is not None
        assert got["key_frequencies"] and all(1 <= k <= 11 for k in got["key_frequencies"])
        assert got["phases"] == ["memorization", "circuit formation", "cleanup"]
        assert got["importance"] == sorted(got["key_frequencies"])
        assert got["share_generalizing_last"] > 0.5  # grokked: the generalizing circuit alone carries it
        assert figures == 9
    else:
        assert got["preset"] == "n14" and got["last_step"] == 60 and got["heldout_total"] == 4
        assert got["splits"] == ["train", "test"] and got["groups"] == ["add", "sub"]
        assert 2 <= len(got["behavior_steps"]) <= 3 and got["behavior_steps"][-1] == 60
        assert figures == 4
