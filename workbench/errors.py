"""The one error hierarchy of workbench.

Every error carries a one-line message for users (the problem, then the fix) and the
exit code that batch mode returns for it::

    WorkbenchError                 1  the operation failed
    ├── OperationFailed            1
    ├── BadInput                   2  bad input: arguments, names, files
    │   └── ConfigError            2  a project file is invalid (names file and line)
    ├── Unreachable                3  a host, git remote or API cannot be reached, or refused us
    ├── Locked                     4  someone else holds the environment's lock
    │   └── LockLost               4  this command's lock was taken over or lapsed
    └── Interrupted              130  the user pressed Ctrl-C

Front ends print ``err.line`` and exit with ``err.exit_code``; they never show a traceback.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Exit codes of ``workbench --batch``."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    UNREACHABLE = 3
    LOCKED = 4
    INTERRUPTED = 130


class WorkbenchError(Exception):
    """Base of every error workbench raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.line)

    @property
    def line(self) -> str:
        """The one line shown to users: the problem, then how to fix it."""
        text = self.problem if not self.fix else f"{self.problem}; {self.fix}"
        return " ".join(text.split())


class OperationFailed(WorkbenchError):
    """An operation ran and failed (a build, a push, a command)."""


class BadInput(WorkbenchError):
    """Arguments, names or files given by the user are not valid."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(BadInput):
    """A project file is invalid; the message names the file and line."""

    def __init__(self, path: Path | str, line: int | None, problem: str, fix: str | None = None):
        self.path = Path(path)
        self.lineno = line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}", fix)


class Unreachable(WorkbenchError):
    """A host, git remote or API could not be reached, or refused our credentials."""

    exit_code = ExitCode.UNREACHABLE


class Locked(WorkbenchError):
    """The environment is locked by another deploy."""

    exit_code = ExitCode.LOCKED


class LockLost(Locked):
    """This command held the environment's lock and lost it (taken over, removed, or not
    renewed in time): it stops before its next change."""


class Interrupted(WorkbenchError):
    """The user interrupted the operation (Ctrl-C)."""

    exit_code = ExitCode.INTERRUPTED
