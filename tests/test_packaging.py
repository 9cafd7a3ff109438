"""The wheel a user installs: it holds the CLI, the library and the task data, and nothing of the
repository's tests, reproductions or results; building it prints no setuptools warning."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import tl_independent

ROOT = Path(__file__).resolve().parents[1]
pytestmark = tl_independent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[list[str], str, str]:
    out = tmp_path_factory.mktemp("wheel")
    # Build isolation as a user's `pip install .` has it: setuptools comes from the package index.
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (built,) = out.glob("grokscope-*.whl")
    with zipfile.ZipFile(built) as z:
        names = z.namelist()
        entry_points = next(z.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    return names, entry_points, r.stdout + r.stderr


def test_the_wheel_holds_the_cli_the_library_and_the_task_data(wheel):
    names, entry_points, _ = wheel
    for path in (ROOT / "cli").glob("*.py"):
        assert f"grokscope/cli/{path.name}" in names, path.name
    for path in (ROOT / "src" / "grokscope").rglob("*.py"):
        rel = path.relative_to(ROOT / "src").as_posix()
        if "/cli/" not in rel:
            assert rel in names, rel
    assert "grokscope/tasks/data/capitals.txt" in names
    assert "grokscope = grokscope.cli.main:main" in entry_points


def test_the_wheel_holds_no_tests_results_or_top_level_cli(wheel):
    names, _, _ = wheel
    tops = {n.split("/")[0] for n in names}
    assert tops == {"grokscope", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert not [n for n in names if "/tests/" in n or "conftest" in n or n.endswith((".ipynb", ".md", ".png"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_building_prints_no_setuptools_warning(wheel):
    _, _, log = wheel
    # pip's own "WARNING: ..." lines are about this machine's index configuration; setuptools' warnings are
    # Python warning classes (SetuptoolsDeprecationWarning:, BuildBackendWarning: ...) or "!!" banners.
    bad = [line for line in log.splitlines() if "Warning:" in line or line.strip() == "!!"]
    assert not bad, "\n".join(bad[:20])


def test_an_editable_install_prints_no_setuptools_warning(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 68:
        pytest.skip(f"setuptools {setuptools.__version__} is older than the build requires (>= 68)")
    # The PEP 660 hook `pip install -e .` calls; an import hook (not a path file) would warn here.
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, setuptools.build_meta as b; print(b.build_editable(sys.argv[1]))",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (built,) = tmp_path.glob("grokscope-*.whl")
    with zipfile.ZipFile(built) as z:
        pth = [n for n in z.namelist() if n.endswith(".pth")]
        assert len(pth) == 1 and z.read(pth[0]).decode().strip() == str(ROOT / "src"), pth
    bad = [line for line in (r.stdout + r.stderr).splitlines() if "Warning:" in line or line.strip() == "!!"]
    assert not bad, "\n".join(bad[:20])
