"""The result of :func:`grokscope.analysis.behavior.over_checkpoints.analyze_behavior`, its JSON summary, and the
"learned the rule but not the answer" period (exact match near zero, structure above chance)."""

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

# Means over questions, except relative_error: its median (one runaway answer would swamp a mean).
METRICS: tuple[str, ...] = (
    "exact",
    "char_accuracy",
    "digit_accuracy",
    "magnitude_correct",
    "sign_correct",
    "relative_error",
    "decimal_match",
    "operation_consistent",
    "stopped_right",
    "stopped_early",
    "ran_on",
)
# The partial-correctness scores a gap is looked for in.
STRUCTURE: tuple[str, ...] = ("digit_accuracy", "magnitude_correct")


@dataclass(frozen=True)
class BehaviorAnalysis:
    """Scores per checkpoint, split and group (``table``), the run's losses (``losses``, by eval
    step), the chance baseline per split and group (``chance``), the questions (``examples``) and
    every answer at every scored checkpoint (``predictions``: step, example, answer, failure)."""

    run: str
    path: str
    task: str
    preset: str
    config: Any
    table: pd.DataFrame
    losses: pd.DataFrame
    chance: pd.DataFrame
    examples: pd.DataFrame
    predictions: pd.DataFrame
    skipped: tuple[tuple[int, str], ...] = ()

    @property
    def steps(self) -> list[int]:
        return sorted(self.table["step"].unique().tolist())

    @property
    def groups(self) -> list[str]:
        return [g for g in sorted(self.table["group"].unique()) if g != "all"]

    @property
    def splits(self) -> list[str]:
        return [s for s in ("train", "test") if s in set(self.table["split"])]

    def series(self, split: str = "test", group: str = "all") -> pd.DataFrame:
        """Scores of one split and group over steps (index: step), with the loss at each step."""
        t = self.table[(self.table["split"] == split) & (self.table["group"] == group)].set_index("step").sort_index()
        return t.join(self.losses_at_steps())

    def losses_at_steps(self) -> pd.DataFrame:
        """The last logged loss at or before each scored step."""
        steps = pd.DataFrame({"step": self.steps})
        if self.losses.empty:
            return steps.set_index("step").assign(train_loss=math.nan, val_loss=math.nan)
        losses = self.losses.reset_index().sort_values("step")
        return pd.merge_asof(steps, losses, on="step").set_index("step")

    def chance_of(self, split: str = "test", group: str = "all") -> dict[str, float]:
        c = self.chance[(self.chance["split"] == split) & (self.chance["group"] == group)]
        return {} if c.empty else {m: float(c.iloc[0][m]) for m in METRICS}

    def gap(
        self, split: str = "test", group: str = "all", *, exact_below: float = 0.05, margin: float = 0.10
    ) -> dict[str, Any] | None:
        """The longest run of consecutive scored checkpoints where exact match is at most ``exact_below``
        while digit accuracy or magnitude correctness beats the chance baseline by ``margin`` or more."""
        s, chance = self.series(split, group), self.chance_of(split, group)
        if s.empty or not chance:
            return None
        excess = pd.DataFrame({m: s[m] - chance[m] for m in STRUCTURE})
        inside = (s["exact"] <= exact_below) & (excess >= margin).any(axis=1)
        best: list[int] = []
        run: list[int] = []
        for step, ok in inside.items():
            run = run + [step] if ok else []
            if len(run) > len(best):
                best = run
        if not best:
            return None
        p = s.loc[best]
        peak = int(excess.loc[best].max(axis=1).idxmax())
        return {
            "split": split,
            "group": group,
            "start": best[0],
            "end": best[-1],
            "checkpoints": len(best),
            "exact_max": _num(p["exact"].max()),
            "digit_accuracy_mean": _num(p["digit_accuracy"].mean()),
            "magnitude_correct_mean": _num(p["magnitude_correct"].mean()),
            "chance": {m: _num(chance[m]) for m in (*STRUCTURE, "exact")},
            "peak_step": peak,
            "at_peak": {
                m: _num(s.loc[peak, m])
                for m in (
                    "exact",
                    *STRUCTURE,
                    "sign_correct",
                    "operation_consistent",
                    "relative_error",
                    "train_loss",
                    "val_loss",
                )
                if m in s
            },
            "rule": f"exact <= {exact_below} and ({' or '.join(STRUCTURE)}) >= chance + {margin}",
        }

    def summary(self) -> dict[str, Any]:
        """Everything but the raw answers, JSON-ready (NaN as null)."""
        steps = self.steps
        losses = self.losses_at_steps()
        per_step = []
        for step in steps:
            row: dict[str, Any] = {
                "step": step,
                "train_loss": _num(losses.loc[step].get("train_loss")),
                "val_loss": _num(losses.loc[step].get("val_loss")),
            }
            t = self.table[self.table["step"] == step]
            for split in self.splits:
                row[split] = {r["group"]: _metrics(r) for _, r in t[t["split"] == split].iterrows()}
            per_step.append(row)
        last = per_step[-1] if per_step else {}
        test = "test" if "test" in self.splits else (self.splits[0] if self.splits else "test")
        final_all = (
            self.table[
                (self.table["step"] == steps[-1]) & (self.table["split"] == test) & (self.table["group"] == "all")
            ]
            if steps
            else self.table.iloc[:0]
        )
        fail_cols = [c for c in self.table.columns if c.startswith("fail_")]
        return {
            "run": self.run,
            "path": self.path,
            "task": self.task,
            "preset": self.preset,
            "config": asdict(self.config) if self.config is not None else None,
            "checkpoints": len(steps),
            "first_step": steps[0] if steps else None,
            "last_step": steps[-1] if steps else None,
            "groups": self.groups,
            "splits": self.splits,
            "chance": {
                sp: {r["group"]: _metrics(r) for _, r in self.chance[self.chance["split"] == sp].iterrows()}
                for sp in self.splits
            },
            "final": {sp: last.get(sp, {}) for sp in self.splits}
            | {"step": last.get("step"), "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss")},
            "final_failures": (
                {c[5:]: _num(final_all.iloc[0][c]) for c in fail_cols if final_all.iloc[0][c] > 0}
                if len(final_all)
                else {}
            ),
            "gaps": {g: self.gap(test, g) for g in ["all", *self.groups]},
            "per_checkpoint": per_step,
            "skipped": [{"step": st, "reason": r} for st, r in self.skipped],
        }

    def sample_table(self, steps: list[int], *, split: str = "test", per_group: int = 2) -> pd.DataFrame:
        """A few questions per group and their answers at ``steps``, each failure named (the blog's table)."""
        ex = self.examples[self.examples["split"] == split]
        picked = ex.groupby("group", sort=True).head(per_group)
        p = self.predictions[self.predictions["step"].isin(steps) & self.predictions["example"].isin(picked.index)]
        out = p.join(picked, on="example")
        return out.sort_values(["step", "group", "example"])[
            ["step", "group", "prompt", "target", "answer", "stopped", "failure", "description"]
        ]

    def failure_examples(self, step: int, *, split: str = "test") -> pd.DataFrame:
        """One question per failure class seen at ``step`` (the first in question order): every kind of wrong at once."""
        ex = self.examples[self.examples["split"] == split]
        p = self.predictions[(self.predictions["step"] == step) & self.predictions["example"].isin(ex.index)]
        first = p.sort_values("example").groupby("failure", sort=False).head(1)
        return first.join(ex, on="example")[
            ["step", "group", "prompt", "target", "answer", "stopped", "failure", "description"]
        ]


def _metrics(row: pd.Series) -> dict[str, Any]:
    d = {"n": int(row["n"])} if "n" in row else {}
    return d | {m: _num(row[m]) for m in METRICS}


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else (x if math.isfinite(x) else None)


__all__ = ["METRICS", "STRUCTURE", "BehaviorAnalysis"]
