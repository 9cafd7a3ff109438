"""One-line errors with exit code 2 for anything the user can fix: the library's errors (``user_errors``)
and the command line's usage errors (``OneLineUsageErrors``, the root group)."""

import errno
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import typer
from typer.core import TyperGroup

RESOURCE_ERRNOS = (errno.ENAMETOOLONG, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    KeyError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
)


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's ``ValueError`` (and friends) into ``error: ...`` and exit code 2, and its
    warnings (a run started afresh, an analysis not cached) into one ``warning: ...`` line each."""
    try:
        with one_line_warnings():
            yield
    except USER_ERRORS as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        fail(str(msg).splitlines()[0] if msg else type(e).__name__)
    except OSError as e:  # the filesystem's refusals a user can fix, wherever they surface
        if e.errno not in RESOURCE_ERRNOS:
            raise
        where = f"{str(e.filename)[:80]}: " if e.filename else ""
        fail(f"{where}{e.strerror}: choose another path, or free space or fix the permissions, and run it again")


@contextmanager
def one_line_warnings() -> Iterator[None]:
    """The library's warnings as one ``warning: ...`` line each on stderr, every time they are raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", RuntimeWarning)
        warnings.showwarning = _one_line_warning
        yield


def _one_line_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    text = str(message).splitlines()
    info(f"warning: {text[0] if text else category.__name__}")


def exits_on_user_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return fn(*args, **kwargs)

    return wrapper


def info(message: str) -> None:
    print(message, file=sys.stderr)


def warn_skipped(run: str, skipped: list[tuple[int, str]]) -> None:
    """One warning line per checkpoint an analysis could not read (and so left out)."""
    for step, reason in skipped:
        info(f"warning: {run}: skipped unreadable checkpoint at step {step}: {reason}")


# click's UsageError as the installed typer raises it: typer >= 0.2x carries its own copy of click
# (typer._click), older typers use click itself; either way it is the base class of typer.BadParameter.
UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class OneLineUsageErrors(TyperGroup):
    """The root command group: a usage error is one line on stderr and exit code 2.

    An unknown option or command, a value of the wrong type, a missing argument, an extra one:
    ``error: <what is wrong>: run grokscope <command> --help`` instead of click's usage block. The
    errors of every subcommand pass through here (``invoke``), whether the app is run as the
    ``grokscope`` script, as ``python -m grokscope.cli.main`` or by a ``CliRunner``. ``--help``, and
    the help a bare group (``grokscope``, ``grokscope analyze``) prints, are left as they are.
    """

    _argv: tuple[str, ...] = ()

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        if parent is None:
            self._argv = tuple(args)
        with self._one_line():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with self._one_line():
            return super().invoke(ctx)

    @contextmanager
    def _one_line(self) -> Iterator[None]:
        try:
            yield
        except UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as click prints it
                raise
            fail(f"{usage_problem(e)}: run {self._command_path(e)} --help")

    def _command_path(self, e: BaseException) -> str:
        """``grokscope train``, ``grokscope analyze fourier``: the command the error is about."""
        ctx, names = getattr(e, "ctx", None), []
        if ctx is not None:
            while ctx.parent is not None:
                names.append(ctx.info_name)
                ctx = ctx.parent
            names.reverse()
        else:  # the option parser's errors carry no context: follow the command names given
            cmd: Any = self
            for token in self._argv:
                sub = getattr(cmd, "commands", None)
                if not sub or token not in sub:
                    break
                names.append(token)
                cmd = sub[token]
        return " ".join(["grokscope", *names])


def usage_problem(e: BaseException) -> str:
    """click's message of a usage error on one line, in the project's style (lower case, no final period),
    naming the value typer refused where its message does not."""
    msg = " ".join(str(e.format_message()).split()).rstrip(".")  # type: ignore[attr-defined]
    # "No such command 'trian'. Did you mean 'train'?" -> "no such command 'trian' (did you mean 'train'?)"
    msg = re.sub(r"\. Did you mean (.*)\?$", r" (did you mean \1?)", msg)
    value = _refused_value(e)
    if value is not None and repr(value) not in msg and msg.startswith("Invalid value for "):
        msg = msg.replace("Invalid value for ", f"Invalid value {value!r} for ", 1)
    return ": ".join(_lower_first(part) for part in msg.split(": "))


def _refused_value(e: BaseException) -> Any:
    """The value behind a ``BadParameter`` of typer's validation (its cause lists the input), if any."""
    errors = getattr(e.__cause__, "errors", None)
    try:
        first = errors()[0] if callable(errors) else None
    except Exception:
        return None
    value = first.get("input") if isinstance(first, dict) else None
    return value if isinstance(value, str) else None


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text
