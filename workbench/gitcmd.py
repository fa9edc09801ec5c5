"""Run ``git`` for many repos at once: each in its own process, waited on by a thread pool.

GitPython runs one command at a time and costs 0.12 s to import; cloning or fetching twenty
repos wants twenty git processes at once instead. A :class:`GitSession` is one such run:

- git never prompts (``GIT_TERMINAL_PROMPT=0``; ssh runs in batch mode unless the user set
  their own ssh command, which is kept);
- when the ssh command is OpenSSH, connections to one host are shared for the length of the run
  (``ControlMaster``, in a private folder, closed by :meth:`GitSession.close`): twenty repos on
  one host cost one handshake. A host that refuses shared sessions gets a plain connection;
- :meth:`GitSession.cancel` (Ctrl-C, the TUI's cancel) stops every running git process.

Failures become one-line errors with :func:`error_for` (unreachable or auth -> Unreachable, a
rejected push -> BadInput, anything else -> OperationFailed).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from .errors import BadInput, Interrupted, OperationFailed, Unreachable, WorkbenchError

DEFAULT_SSH = "ssh -o BatchMode=yes -o ConnectTimeout=15"
DEFAULT_JOBS = 8
"""Repos at once: below OpenSSH's default of 10 sessions on one shared connection."""
UNREACHABLE = (
    "could not resolve", "connection refused", "connection timed out", "no route to host",
    "network is unreachable", "unable to access", "could not read from remote",
    "permission denied", "host key verification failed", "authentication failed",
    "does not appear to be a git repository", "not found", "connection closed",
    "operation timed out", "could not connect", "unable to connect",
)
MISSING = ("does not appear to be a git repository", "repository not found", "not found")
_MUX_FAILED = ("mux_client", "session open refused", "control socket", "controlsocket",
               "muxserver")
_PERCENT = re.compile(r"^(Receiving objects|Resolving deltas|Counting objects|Compressing "
                      r"objects|Unpacking objects):\s+(\d+)%")
_SCP = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?!//)")
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class GitResult:
    """What one git command did."""

    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class GitSession:
    """One run of git commands over many repos (use it as a context manager)."""

    def __init__(self, *, multiplex: bool = True) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self.cancelled = threading.Event()
        self._mux_dir: Path | None = None
        self._user_ssh = os.environ.get("GIT_SSH_COMMAND") or None
        self._own_program = bool(os.environ.get("GIT_SSH")) and not self._user_ssh
        self._config_ssh: dict[str, str | None] = {}
        if multiplex and not self._own_program:
            folder = Path(tempfile.mkdtemp(prefix="wb-git-ssh-"))
            # a unix socket path has at most 107 bytes: the name is a 40-character hash
            if len(str(folder)) + 42 < 104:
                self._mux_dir = folder
            else:
                folder.rmdir()

    def __enter__(self) -> GitSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- environment ------------------------------------------------------------------------
    def _ssh_base(self, cwd: Path | None) -> str | None:
        """The ssh command git would use here: the user's, or ours (None: leave it to git)."""
        if self._own_program:
            return None
        if self._user_ssh:
            return self._user_ssh
        key = str(cwd) if cwd is not None else ""
        if key not in self._config_ssh:
            done = subprocess.run(["git", "config", "--get", "core.sshCommand"],
                                  cwd=cwd or "/", capture_output=True, text=True, check=False)
            self._config_ssh[key] = done.stdout.strip() or None
        return self._config_ssh[key] or DEFAULT_SSH

    def env(self, cwd: Path | None = None, *, share: bool = True) -> dict[str, str]:
        """The environment of a git command run in ``cwd``."""
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
        base = self._ssh_base(cwd)
        if base is None:
            return env
        command = base
        if _is_openssh(base):
            if share and self._mux_dir is not None:
                command += (f" -o ControlMaster=auto -o ControlPath={self._mux_dir}/%C"
                            " -o ControlPersist=120")
            elif not share:
                command += " -o ControlMaster=no -o ControlPath=none"
        env["GIT_SSH_COMMAND"] = command
        return env

    # -- running ----------------------------------------------------------------------------
    def run(self, args: Sequence[str], cwd: Path | None = None, *,
            progress: Callable[[int], None] | None = None) -> GitResult:
        """Run ``git ARGS`` in ``cwd``; ``progress`` gets git's percentages (pass
        ``--progress``; stdout is then dropped). A failure of a shared ssh connection is
        retried on a plain one."""
        result = self._run(args, cwd, progress, share=True)
        if (not result.ok and self._mux_dir is not None
                and any(m in result.err.lower() for m in _MUX_FAILED)):
            result = self._run(args, cwd, progress, share=False)
        return result

    def _run(self, args: Sequence[str], cwd: Path | None,
             progress: Callable[[int], None] | None, *, share: bool) -> GitResult:
        if self.cancelled.is_set():
            raise Interrupted("cancelled", "nothing more was started")
        argv = ["git", *args]
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=self.env(cwd, share=share),
                                    stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL if progress else subprocess.PIPE)
        except OSError as exc:
            raise OperationFailed(f"cannot run git ({exc.strerror})",
                                  "install git (apt-get install git)") from None
        with self._lock:
            self._procs.add(proc)
        try:
            if progress is None:
                out, err = proc.communicate()
            else:
                out, err = _follow(proc, progress)
        finally:
            with self._lock:
                self._procs.discard(proc)
        if self.cancelled.is_set() and proc.returncode != 0:
            raise Interrupted("cancelled", "what was half-made was removed")
        return GitResult(proc.returncode, out.decode(errors="replace"),
                         err.decode(errors="replace"))

    def cancel(self) -> None:
        """Stop every running git process; later :meth:`run` calls raise Interrupted."""
        self.cancelled.set()
        with self._lock:
            for proc in self._procs:
                if proc.poll() is None:
                    proc.terminate()

    def close(self) -> None:
        """End the shared ssh connections of this run and remove their folder."""
        folder, self._mux_dir = self._mux_dir, None
        if folder is None:
            return
        for socket in folder.iterdir():
            subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "workbench"],
                           capture_output=True, check=False, timeout=10)
        shutil.rmtree(folder, ignore_errors=True)

    # -- many repos -------------------------------------------------------------------------
    def map(self, func: Callable[[T], R], items: Iterable[T], *, jobs: int = DEFAULT_JOBS,
            first: Callable[[T], object] | None = None) -> list[R | WorkbenchError]:
        """``func`` over ``items``, ``jobs`` at a time, in order; a WorkbenchError (or OSError)
        a call raises is its result, so one repo's failure never stops the others. ``first(item)``
        names the ssh host of an item: one item per host runs before the others, so that
        they share its connection. Ctrl-C cancels the run and raises Interrupted."""
        items = list(items)
        results: list[R | WorkbenchError] = [Interrupted("cancelled")] * len(items)

        def call(index: int) -> None:
            try:
                results[index] = func(items[index])
            except WorkbenchError as exc:
                results[index] = exc
            except OSError as exc:  # a folder that cannot be written: this repo's failure
                where = f" ({exc.filename})" if exc.filename else ""
                results[index] = OperationFailed(f"{exc.strerror or exc}{where}",
                                                 "check the folder's permissions and free "
                                                 "disk space")

        leaders: dict[object, int] = {}
        if first is not None and self._mux_dir is not None:
            for index, item in enumerate(items):
                host = first(item)
                if host is not None:
                    leaders.setdefault(host, index)
        rest = [i for i in range(len(items)) if i not in leaders.values()]
        workers = max(1, min(jobs, len(items)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                for wave in (list(leaders.values()), rest):
                    for future in [pool.submit(call, index) for index in wave]:
                        future.result()
            except KeyboardInterrupt:
                self.cancel()
                raise
        if self.cancelled.is_set():
            raise Interrupted("cancelled", "repos that were complete were kept")
        return results


def _follow(proc: subprocess.Popen[bytes], progress: Callable[[int], None]
            ) -> tuple[bytes, bytes]:
    """Read a git command's stderr as it comes (progress lines end in CR), calling
    ``progress`` with the percentage of the objects received, in steps of 10 at least."""
    assert proc.stderr is not None
    err = bytearray()
    line = bytearray()
    last = -10
    while True:
        data = proc.stderr.read1(4096)  # type: ignore[attr-defined]
        if not data:
            break
        err += data
        for byte in data:
            if byte not in (10, 13):
                line.append(byte)
                continue
            match = _PERCENT.match(line.decode(errors="replace"))
            line.clear()
            if match and match.group(1) == "Receiving objects":
                percent = int(match.group(2))
                if percent >= last + 10 or (percent == 100 and last < 100):
                    last = percent
                    progress(percent)
    proc.wait()
    # keep the last state of each progress line only, not every carriage-return update
    text = b"\n".join(part.rsplit(b"\r", 1)[-1] for part in bytes(err).split(b"\n"))
    return b"", text


def _is_openssh(command: str) -> bool:
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return bool(words) and os.path.basename(words[0]) == "ssh"


def ssh_host(url: str) -> tuple[str, str, int] | None:
    """``(user, host, port)`` of an ssh remote, None for other remotes."""
    if url.startswith("ssh://"):
        parts = urlsplit(url)
        return (parts.username or "", parts.hostname or "", parts.port or 22)
    if "://" not in url:
        match = _SCP.match(url)
        if match:
            return (match.group("user") or "", match.group("host"), 22)
    return None


def clean_stderr(stderr: str | bytes | None) -> str:
    """The useful part of git's stderr: its fatal/error lines, on one line."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    text = (stderr or "").strip()
    if text.startswith("stderr:"):
        text = text[len("stderr:"):].strip().strip("'")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if ln.lower().startswith(("fatal:", "error:", "ssh:", "!"))
              or any(marker in ln.lower() for marker in UNREACHABLE)]
    return "; ".join(dict.fromkeys(useful or lines[-2:]))[:300]


def first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), text)[:300]


def is_missing(text: str) -> bool:
    """Whether git's message says the remote repo does not exist."""
    low = text.lower()
    return any(marker in low for marker in MISSING)


def error_for(action: str, url: str, result: GitResult, fix: str | None = None
              ) -> WorkbenchError:
    """The one-line error of a failed ``git ACTION`` against ``url``."""
    text = clean_stderr(result.err) or clean_stderr(result.out) or f"exit {result.code}"
    low = text.lower()
    if action == "push" and ("rejected" in low or "non-fast-forward" in low
                             or "fetch first" in low):
        return BadInput(f"the git remote {url} rejected the push: {text}",
                        fix or "it holds commits you do not have: sync first")
    if any(marker in low for marker in UNREACHABLE) or "timed out" in low:
        return Unreachable(f"cannot {action} {url}: {text}",
                           fix or "check the URL, the network and your SSH key or token")
    return OperationFailed(f"git {action} {url} failed: {text}",
                           fix or f"run 'git {action}' there to see why")
