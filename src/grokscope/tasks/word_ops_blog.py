"""Five outputs of the word-ops model that the blog posts published.

The posts: "Why arithmetic models look dumb long after they've learned the rule", parts 1 and 2.

Each row: operation, operands, decimals of the target, the model's output as printed, and what
the post observed about it. ``analyses/blog_failures.py`` scores them, and the behavioural
metrics are tested against them.
"""

BLOG_OUTPUTS: tuple[tuple[str, int, int, int, str, str], ...] = (
    ("DIVIDE", 845, 79, 9, "10.69620253", "correct to several decimals"),
    ("DIVIDE", 356, 936, 8, "0.3165618", "numerically close, wrong digits"),
    ("SUM", 568, 390, 0, "958", "exact match"),
    ("MULTIPLY", 974, 915, 0, "8912108912101025", "correct structure, failed termination"),
    ("SUBTRACT", 190, 498, 0, "-308781889", "correct sign, magnitude explosion"),
)
