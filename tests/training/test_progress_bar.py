"""The training progress bar: honest about a run that stops after grokking, in a terminal and in Jupyter."""

import json
import re
import sys

import pytest

from grokscope.training.callbacks import ProgressBar
from grokscope.training.train import train
from tests.conftest import tiny_config, tl_independent

# a+b mod 23 on 80% of the pairs groks by step ~600, far before the 5,000 steps it may train.
STEPS, AFTER = 5000, 40


def _renders(stderr: str) -> list[str]:
    """Each state the bar was drawn in, in order (tqdm redraws a terminal line after a carriage return)."""
    return [s.strip() for s in re.split(r"[\r\n]", stderr) if "%|" in s]


@tl_independent
def test_bar_ends_at_100_percent_at_the_step_a_grokked_run_stops(tmp_path, capsys):
    bar = ProgressBar()
    config = tiny_config(p=23, frac=0.8, steps=STEPS, eval_every=20, ckpt_every=200, stop_after_grok=AFTER)
    run = train(config, tmp_path, device="cpu", callbacks=[bar])
    last, grok = run.metrics_rows()[-1]["step"], run.grok_step
    assert grok is not None and last == grok + AFTER < STEPS

    drawn = _renders(capsys.readouterr().err)
    assert drawn, "no bar was drawn"
    # Before grokking the total is the most the run may train, and says so ("max").
    assert f"/{STEPS} max [" in drawn[0] and " max, " in drawn[0]
    # It ends full, at the step the run stopped at, with nothing marked as a bound any more.
    assert drawn[-1].startswith("100%") and f" {last}/{last} [" in drawn[-1] and " max" not in drawn[-1]
    assert bar._bar is None  # closed by the trainer's last row, not left open


@tl_independent
def test_bar_of_a_run_that_trains_to_its_steps_has_no_bound_marks(tmp_path, capsys):
    train(tiny_config(steps=60, stop_after_grok=None), tmp_path, device="cpu", callbacks=[ProgressBar()])
    drawn = _renders(capsys.readouterr().err)
    assert drawn and all(" max" not in d for d in drawn)
    assert drawn[-1].startswith("100%") and " 60/60 [" in drawn[-1]


@tl_independent  # a+b mod 13 in the kernel: the fused trainer
def test_gs_train_shows_progress_in_a_jupyter_notebook(tmp_path, monkeypatch):
    """``gs.train`` in a real Jupyter kernel: the cell shows the bar (a widget, or text where ipywidgets
    is missing) up to 100% at the step the run stopped at; ``progress=False`` shows none."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # A kernel of this interpreter, whatever kernels the machine has installed.
    spec = tmp_path / "jupyter" / "kernels" / "grokscope-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    out = tmp_path / "runs"
    code = (
        "import grokscope as gs\n"
        f"run = gs.train('mod23', frac=0.8, steps={STEPS}, stop_after_grok={AFTER}, eval_every=20, "
        f"out={str(out)!r}, device='cpu')\n"
        "print('last step', run.metrics_rows()[-1]['step'])\n"
    )
    quiet = f"gs.train('mod13', steps=30, out={str(out)!r}, device='cpu', progress=False)\nprint('quiet done')\n"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell(quiet)]
    nbclient.NotebookClient(nb, timeout=600, kernel_name="grokscope-test").execute()

    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    last = int(re.search(r"last step (\d+)", text).group(1))
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    bars = [m["state"] for m in widgets.values() if m["model_name"] == "FloatProgressModel"]
    if bars:  # ipywidgets installed: tqdm.notebook's widget, as the kernel left it
        labels = " ".join(m["state"].get("value", "") for m in widgets.values() if m["model_name"] == "HTMLModel")
        assert bars[0]["value"] == bars[0]["max"] == last and "100%" in labels, (bars, labels)
    else:  # text on stderr, redrawn in place
        drawn = _renders("".join(o["text"] for o in outputs if o.get("name") == "stderr"))
        assert drawn and drawn[-1].startswith("100%") and f" {last}/{last} [" in drawn[-1], drawn[-3:]
    quiet_out = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert quiet_out.strip() == "quiet done", quiet_out
