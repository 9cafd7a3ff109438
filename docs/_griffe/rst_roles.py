"""Griffe extension for the docs build: the reST bits of grokscope's docstrings, as Markdown.

The docstrings are written for readers of the source (and ``help()``), with Sphinx-style roles
(``:func:`~grokscope.x.f```), doctest examples (``>>> ...``) and literal blocks (``text::``).
mkdocstrings renders Markdown, where a role would show as raw text and ``>>>`` as nested quotes.
This rewrites each docstring before it is parsed, without touching the source:

* a role becomes an optional cross-reference: a link when the target is on a page of the API
  reference, plain code otherwise (so an unrendered target is no ``--strict`` warning);
* a run of ``>>>``/``...`` lines with their output becomes a ``pycon`` code block, with the
  ``# doctest:`` directives dropped;
* ``text::`` followed by an indented block becomes ``text:`` and a code block.
"""

import re
from typing import Any

from griffe import Extension, Object

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`<>]+?)(?:\s*<([^`>]+)>)?`")
DOCTEST_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")


def _role(match: re.Match, base: str) -> str:
    tilde, text, target = match.group(1), match.group(2).strip(), match.group(3)
    ident = (target or text).strip().lstrip(".")
    shown = text if target else (ident.rsplit(".", 1)[-1] if tilde else ident)
    if "." not in ident and base:  # a name relative to the docstring's module
        ident = f"{base}.{ident}"
    return f'<autoref identifier="{ident}" optional><code>{shown}</code></autoref>'


def _doctests(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        block = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            block.append(DOCTEST_DIRECTIVE.sub("", lines[i][len(indent) :]).rstrip())
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += [f"{indent}```pycon", *(f"{indent}{b}" for b in block), f"{indent}```"]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return out


def _literal_blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not (line.rstrip().endswith("::") and not line.lstrip().startswith(("```", ">>>"))):
            out.append(line)
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        base = len(line) - len(line.lstrip())
        if j == len(lines) or len(lines[j]) - len(lines[j].lstrip()) <= base:
            out.append(line)
            i += 1
            continue
        head = line.rstrip()[:-2].rstrip()
        out.append(head + ":" if head else "")
        block: list[str] = []
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > base):
            block.append(lines[j])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        cut = min(len(b) - len(b.lstrip()) for b in block if b.strip())
        pad = " " * base
        out += ["", f"{pad}```text", *(f"{pad}{b[cut:]}" if b.strip() else "" for b in block), f"{pad}```", ""]
        i = j
    return out


def to_markdown(text: str, base: str = "") -> str:
    """The docstring ``text`` with its reST roles, doctests and literal blocks in Markdown."""
    lines = _literal_blocks(_doctests(text.split("\n")))
    return ROLE.sub(lambda m: _role(m, base), "\n".join(lines))


class RstRoles(Extension):
    """Rewrite every docstring of the loaded objects with :func:`to_markdown`."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            module = obj if obj.is_module else obj.module
            obj.docstring.value = to_markdown(obj.docstring.value, module.path)
