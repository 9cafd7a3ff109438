"""What a sweep is: a task, fixed train options and swept ones, expanded into the grid of runs.

A value of a swept option is written as on the command line (``grokscope sweep``), in a TOML
spec, or in ``gs.sweep(...)``:

- a list: ``0.2,0.3,0.5``;
- an inclusive integer range: ``0..4`` (0, 1, 2, 3, 4);
- a linear or log range of ``N`` points, both ends included: ``0.1:3:log6``, ``0:1:lin5``
  (values rounded to 6 significant digits, so they print as typed and name folders cleanly);
- several of those joined by commas: ``0.1,0.5:1:lin3``.

The grid is the product of the swept values, the first option outermost. Torch-free: a spec is
checked, and every run's config built, before anything is imported or written.
"""

import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from numbers import Integral, Real
from pathlib import Path
from typing import Any

MAX_RUNS = 1_000
"""Default most runs of one sweep (``--max-runs``): a larger grid is a typo more often than a plan."""


@dataclass(frozen=True)
class Option:
    """One train option as a sweep takes it: its ``grokscope train`` flag, its type, and whether it may vary."""

    name: str  # the keyword of config_from_options
    flag: str  # the command-line flag, without dashes
    kind: type  # int, float or str
    sweepable: bool = True
    why_fixed: str = ""
    # Its value has commas or ".." of its own: one value on the command line, lists in a --spec file.
    one_on_command_line: bool = False


# Every option of ``grokscope train`` that describes the run (the same names as ``gs.train``).
OPTIONS: tuple[Option, ...] = (
    Option("task", "task", str),
    Option("op", "op", str),
    Option("seed", "seed", int),
    Option("frac", "frac", float),
    Option("preset", "preset", str),
    Option("steps", "steps", int),
    Option("stop_after_grok", "stop-after-grok", int),
    Option("lr", "lr", float),
    Option("weight_decay", "wd", float),
    Option("batch_size", "batch-size", int),
    Option("eval_every", "eval-every", int),
    Option("ckpt_every", "ckpt-every", int),
    Option("block_size", "block-size", int),
    Option("dropout", "dropout", float),
    Option("warmup", "warmup", int),
    Option("min_lr", "min-lr", float),
    Option("decimals", "decimals", int),
    Option("n_train", "n-train", int),
    Option("n_test", "n-test", int),
    Option("ops", "ops", str, one_on_command_line=True),
    Option("operands", "operands", str, one_on_command_line=True),
    Option("facts_file", "facts-file", str, False, "it takes one path"),
    Option("init_from", "init-from", str, False, "it takes one path"),
)
BY_NAME = {o.name: o for o in OPTIONS}
ALIASES = {"weight-decay": "weight_decay", "weight_decay": "weight_decay", "wd": "weight_decay"}
# Flags of ``grokscope train`` a sweep sets itself, with what to do instead.
NOT_IN_A_SWEEP = {
    "name": "a sweep names each run from its swept values",
    "resume": "run the same sweep command again to continue it",
    "quiet": "it is a flag of the sweep itself (--quiet), taking no value",
}
SHORT = {"weight_decay": "wd"}  # names in run folder names; the rest use the option's name


def option(key: str) -> Option:
    """The option behind a flag or keyword (``--batch-size``, ``batch_size``, ``wd``), or a ``ValueError``."""
    name = key.lstrip("-")
    name = ALIASES.get(name, name.replace("-", "_"))
    if name in BY_NAME:
        return BY_NAME[name]
    if name in NOT_IN_A_SWEEP:
        raise ValueError(f"--{name.replace('_', '-')} is not a sweep option: {NOT_IN_A_SWEEP[name]}")
    known = ", ".join(f"--{o.flag}" for o in OPTIONS)
    raise ValueError(f"unknown option --{key.lstrip('-')}: a sweep takes the options of grokscope train ({known})")


_INT_RANGE = re.compile(r"^([+-]?\d+)\.\.([+-]?\d+)$")
_SPACED = re.compile(r"^([^:]+):([^:]+):(lin|log)(\d+)$")


def parse_values(opt: Option, text: str) -> list[Any]:
    """The values of ``opt`` a command-line string stands for (see the module docstring for the syntax).

    >>> parse_values(option("seed"), "0..4")
    [0, 1, 2, 3, 4]
    >>> parse_values(option("frac"), "0.2,0.3,0.5")
    [0.2, 0.3, 0.5]
    >>> parse_values(option("wd"), "0.1:3:log6")
    [0.1, 0.197435, 0.389806, 0.769614, 1.51949, 3.0]
    >>> parse_values(option("frac"), "0.1,0.5:1:lin3")
    [0.1, 0.5, 0.75, 1.0]
    >>> parse_values(option("seed"), "4..0")
    Traceback (most recent call last):
    ...
    ValueError: --seed '4..0': an empty range (4 > 0); write LOW..HIGH
    """
    if not opt.sweepable or opt.one_on_command_line:
        return [_scalar(opt, text.strip())]
    if not text.strip():
        raise ValueError(f"--{opt.flag}: empty value; give a value, a list a,b,c or a range such as 0..4")
    values: list[Any] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"--{opt.flag} {text!r}: an empty item in the list; write values as a,b,c")
        values += _part(opt, part)
    return _distinct(opt, values)


def _part(opt: Option, part: str) -> list[Any]:
    if ".." in part and opt.kind is not str:
        m = _INT_RANGE.match(part)
        if m is None or opt.kind is not int:
            what = "an integer range LOW..HIGH" if opt.kind is int else "a float range LOW:HIGH:lin{N} or :log{N}"
            raise ValueError(
                f"--{opt.flag} {part!r}: not {what} (e.g. --{opt.flag} {'0..4' if opt.kind is int else '0.1:3:log6'})"
            )
        lo, hi = int(m[1]), int(m[2])
        if lo > hi:
            raise ValueError(f"--{opt.flag} {part!r}: an empty range ({lo} > {hi}); write LOW..HIGH")
        if hi - lo + 1 > 100 * MAX_RUNS:
            raise ValueError(f"--{opt.flag} {part!r}: {hi - lo + 1:,} values; narrow the range")
        return list(range(lo, hi + 1))
    if ":" in part and opt.kind is not str:
        return _spaced(opt, part)
    return [_scalar(opt, part)]


def _spaced(opt: Option, part: str) -> list[Any]:
    m = _SPACED.match(part)
    if m is None:
        raise ValueError(
            f"--{opt.flag} {part!r}: a spaced range is LOW:HIGH:linN or LOW:HIGH:logN "
            f"(e.g. 0.1:3:log6, N points, both ends included)"
        )
    as_float = Option(opt.name, opt.flag, float)
    lo, hi, how, n = _scalar(as_float, m[1]), _scalar(as_float, m[2]), m[3], int(m[4])
    if n < 1 or n > 100 * MAX_RUNS:
        raise ValueError(f"--{opt.flag} {part!r}: the number of points must be 1..{100 * MAX_RUNS}, got {n}")
    if n == 1 and lo != hi:
        raise ValueError(f"--{opt.flag} {part!r}: one point cannot span {lo:g}..{hi:g}; use 2 points or more")
    if how == "log" and (lo <= 0 or hi <= 0):
        raise ValueError(f"--{opt.flag} {part!r}: a log range needs both ends > 0; use lin for a range through 0")
    if n == 1:
        raw = [lo]
    elif how == "lin":
        raw = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    else:
        raw = [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (n - 1)) for i in range(n)]
    if not all(math.isfinite(v) for v in raw):
        raise ValueError(f"--{opt.flag} {part!r}: the range leaves the floating-point numbers; give smaller ends")
    if opt.kind is int:
        return [round(v) for v in raw]
    return [float(f"{v:.6g}") for v in raw]


def _scalar(opt: Option, text: str) -> Any:
    shown = opt
    if opt.kind is str:
        if not text:
            raise ValueError(f"--{shown.flag}: empty value")
        return text
    try:
        value = int(text) if opt.kind is int else float(text)
    except ValueError:
        kind = "an integer" if opt.kind is int else "a number"
        raise ValueError(
            f"--{shown.flag} {text!r}: not {kind}; give a value, a list a,b,c or a range "
            f"({'0..4' if shown.kind is int else '0.1:3:log6'})"
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"--{shown.flag} {text!r}: not a finite number")
    return value


def _distinct(opt: Option, values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"--{opt.flag}: the value {v!r} comes twice; each run of a sweep must differ")
        seen.add(v)
    return values


def _from_python(opt: Option, value: Any) -> list[Any]:
    """Values given in TOML or to ``gs.sweep``: a scalar, a list, or a string in the command-line syntax."""
    if isinstance(value, str) and opt.kind is not str:
        return parse_values(opt, value)
    if hasattr(value, "tolist") and not isinstance(value, str):  # a numpy array or scalar
        value = value.tolist()
    items = list(value) if isinstance(value, (list, tuple, range)) else [value]
    if opt.name == "operands" and len(items) == 2 and all(isinstance(v, int) for v in items):
        items = [items]  # operands = [0, 999]: one range, not two values
    if not items:
        raise ValueError(f"{opt.name}: an empty list; give one value or more")
    out = []
    for v in items:
        if isinstance(v, (list, tuple)) and opt.name in ("ops", "operands"):  # ["SUM", "DIVIDE"], [0, 999]
            v = ",".join(map(str, v)) if opt.name == "ops" else "..".join(map(str, v))
        if isinstance(v, Integral) and not isinstance(v, bool):
            v = int(v)
        if opt.kind is float and isinstance(v, (int, Real)) and not isinstance(v, bool):
            v = float(v)
        if opt.kind is str and isinstance(v, Path):
            v = str(v)
        ok = isinstance(v, opt.kind) and not isinstance(v, bool)
        if not ok or (isinstance(v, float) and not math.isfinite(v)):
            raise ValueError(
                f"{opt.name}: {v!r} is not {'an integer' if opt.kind is int else 'a number' if opt.kind is float else 'a string'}"
            )
        out.append(v)
    if len(out) > 1 and not opt.sweepable:
        raise ValueError(f"--{opt.flag} cannot be swept: {opt.why_fixed}")
    return _distinct(opt, out)


@dataclass(frozen=True)
class RunPlan:
    """One run of a sweep: its folder name, the swept values it takes, and every option it is built from."""

    name: str
    values: dict[str, Any]
    options: dict[str, Any]


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: for each option the values it takes, in the order given (one value: fixed).

    ``axes`` maps option names (``config_from_options`` keywords, ``task`` among them) to their
    values. Validated on creation; :meth:`runs` expands the grid.
    """

    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    max_runs: int = field(default=MAX_RUNS, compare=False)
    # The options a run's folder is named from: the swept ones unless given (a script that will
    # add seeds later names its runs by seed from the first one on, so their names never change).
    name_by: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        names = [k for k, _ in self.axes]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"--{BY_NAME[dup].flag} is given twice; give its values once (a,b,c)")
        if "task" not in names:
            raise ValueError("a sweep needs a task: grokscope sweep TASK ... (e.g. mod97)")
        for name, values in self.axes:
            opt = BY_NAME.get(name)
            if opt is None:
                option(name)  # raises, naming the known options
            if not values:
                raise ValueError(f"--{opt.flag}: no values")  # type: ignore[union-attr]
        unknown = [k for k in self.name_by or () if k not in names]
        if unknown:
            raise ValueError(f"name_by names {unknown[0]!r}, which is not one of the sweep's options")
        if self.size > self.max_runs:
            sizes = " x ".join(str(len(v)) for _, v in self.axes if len(v) > 1)
            raise ValueError(
                f"the grid has {self.size:,} runs ({sizes}), more than --max-runs {self.max_runs:,}: "
                "sweep fewer values, or raise --max-runs"
            )

    @property
    def size(self) -> int:
        return math.prod(len(v) for _, v in self.axes)

    @property
    def swept(self) -> list[str]:
        """The options that vary, in grid order."""
        return [k for k, v in self.axes if len(v) > 1]

    @property
    def fixed(self) -> dict[str, Any]:
        return {k: v[0] for k, v in self.axes if len(v) == 1}

    def runs(self) -> list[RunPlan]:
        """Every run of the grid, the first swept option outermost."""
        swept = self.swept
        named = list(self.name_by) if self.name_by is not None else swept
        grids = [dict(self.axes)[k] for k in swept]
        plans = []
        for combo in product(*grids):
            values = dict(zip(swept, combo))
            options = self.fixed | values
            plans.append(RunPlan(name=run_name({k: options[k] for k in named}), values=values, options=options))
        names = [p.name for p in plans]
        if len(set(names)) != len(names):  # e.g. two values that print alike
            raise ValueError(f"two runs would share the folder {_first_dup(names)!r}: give values that differ visibly")
        for name in names:
            if len(name.encode()) > 255:
                raise ValueError(
                    f"the run name {name[:40]}... would be {len(name.encode())} bytes, more than a folder "
                    "name may have: sweep shorter values"
                )
        return plans

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"axes": [[k, list(v)] for k, v in self.axes]}
        return d if self.name_by is None else d | {"name_by": list(self.name_by)}

    @classmethod
    def from_dict(cls, d: Any, max_runs: int | None = None) -> "SweepSpec":
        if not isinstance(d, dict) or not isinstance(d.get("axes"), list) or set(d) - {"axes", "name_by"}:
            raise ValueError("a sweep spec is {'axes': [[option, [values]], ...]}")
        name_by = d.get("name_by")
        if name_by is not None and not (isinstance(name_by, list) and all(isinstance(k, str) for k in name_by)):
            raise ValueError("a sweep spec's name_by is a list of option names")
        axes = []
        for item in d["axes"]:
            if not (
                isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], list)
            ):
                raise ValueError("a sweep spec is {'axes': [[option, [values]], ...]}")
            axes.append((option(item[0]).name, tuple(_from_python(option(item[0]), item[1]))))
        return cls(
            tuple(axes),
            name_by=None if name_by is None else tuple(name_by),
            **({} if max_runs is None else {"max_runs": max_runs}),
        )

    def describe(self) -> str:
        """One line: the grid, e.g. ``mod97: frac 3 values x seed 5 values = 15 runs``."""
        fixed = self.fixed
        parts = [f"{k} {len(v)} values" for k, v in self.axes if len(v) > 1]
        return (
            f"{fixed.get('task', 'tasks')}: {' x '.join(parts) or 'one run'} = {self.size} run{'s' * (self.size != 1)}"
        )


def _first_dup(names: list[str]) -> str:
    return next(n for n in names if names.count(n) > 1)


def format_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def run_name(values: Mapping[str, Any]) -> str:
    """A run's folder name from the values that vary: ``frac0.3-seed2``, ``mod113-wd0.1`` (``run``
    when nothing varies). Characters a folder name should not hold become ``_``.

    >>> run_name({"frac": 0.3, "seed": 2}), run_name({"task": "mod113", "weight_decay": 0.1}), run_name({})
    ('frac0.3-seed2', 'mod113-wd0.1', 'run')
    """
    parts = []
    for k, v in values.items():
        text = format_value(v)
        parts.append(text if k == "task" else f"{SHORT.get(k, k)}{text}")
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", "-".join(parts) or "run")
    return "_" + name if name.startswith(".") else name  # never '..', never hidden like a temporary


def spec_from_options(given: Mapping[str, Any], max_runs: int = MAX_RUNS) -> SweepSpec:
    """A spec from Python values (``gs.sweep`` and TOML): each a scalar, a list, or a string in the
    command-line syntax (``"0..4"``, ``"0.1:3:log6"``). Keys are options' names or flags."""
    axes = []
    for key, value in given.items():
        opt = option(key)
        axes.append((opt.name, tuple(_from_python(opt, value))))
    return SweepSpec(tuple(axes), max_runs=max_runs)


def spec_from_args(
    args: Sequence[str], *, base: Mapping[str, Any] | None = None, max_runs: int = MAX_RUNS
) -> SweepSpec:
    """A spec from command-line tokens (``["mod97", "--frac", "0.2,0.3", "--seed=0..4"]``), added to
    ``base`` (a TOML spec's options); an option in both is an error.

    >>> spec = spec_from_args(["mod97", "--frac", "0.3,0.5", "--seed=0..1", "--wd", "1"])
    >>> spec.describe()
    'mod97: frac 2 values x seed 2 values = 4 runs'
    >>> spec.fixed
    {'task': 'mod97', 'weight_decay': 1.0}
    >>> [run.name for run in spec.runs()]
    ['frac0.3-seed0', 'frac0.3-seed1', 'frac0.5-seed0', 'frac0.5-seed1']
    """
    axes: list[tuple[str, tuple[Any, ...]]] = []
    given = dict(base or {})
    base_axes = [(option(k).name, tuple(_from_python(option(k), v))) for k, v in given.items()]
    tokens = list(args)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--"):
            if i == 0 and not any(k == "task" for k, _ in base_axes):
                axes.append(("task", tuple(parse_values(BY_NAME["task"], tok))))
                i += 1
                continue
            if i == 0:
                raise ValueError(f"the task is given twice: {tok!r} here and in the --spec file; give it once")
            raise ValueError(f"unexpected argument {tok!r}: the task comes first, then options as --option VALUE")
        key, eq, value = tok[2:].partition("=")
        opt = option(key)
        if not eq:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise ValueError(
                    f"--{key} needs a value (e.g. --{opt.flag} "
                    f"{'0..4' if opt.kind is int else '0.1,0.3' if opt.kind is float else 'VALUE'})"
                )
            value, i = tokens[i + 1], i + 1
        i += 1
        values = parse_values(opt, value)
        if len(values) > 1 and not opt.sweepable:
            raise ValueError(f"--{opt.flag} cannot be swept: {opt.why_fixed}")
        axes.append((opt.name, tuple(values)))
    for name, _ in axes:
        if any(name == k for k, _ in base_axes):
            raise ValueError(f"--{BY_NAME[name].flag} is in the --spec file and on the command line: give it once")
    return SweepSpec(tuple(base_axes + axes), max_runs=max_runs)


def read_toml_spec(path: Path) -> dict[str, Any]:
    """The options of a TOML spec file: top-level keys are options (``frac = [0.2, 0.3]``,
    ``seed = "0..4"``, ``weight_decay = "0.1:3:log6"``, ``steps = 3000``)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--spec {path} is a folder; give a .toml file")
    if path.exists() and not path.is_file():  # a FIFO would block the read
        raise ValueError(f"--spec {path} is not a regular file; give a .toml file")
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"--spec {path}: no such file") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"--spec {path} is not valid TOML ({str(e).splitlines()[0]})") from None
    for key, value in data.items():
        option(key)
        if isinstance(value, dict):
            raise ValueError(f"--spec {path}: {key} is a table; give a value, a list or a range string")
    return data


__all__ = [
    "MAX_RUNS",
    "OPTIONS",
    "RunPlan",
    "SweepSpec",
    "format_value",
    "option",
    "parse_values",
    "read_toml_spec",
    "run_name",
    "spec_from_args",
    "spec_from_options",
]
