"""Whether a lock's holder is alive (judged by who it is, not by its host name), and
`release_lock`, which removes another holder's lock only when that holder is gone or forced."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest

from workbench.errors import ExitCode, Locked
from workbench.identity import Here, judge, process_start
from workbench.lock import LOCK, LockInfo, release_lock, status
from workbench.state import LocalStore

GONE_PID = 2**22 + 12345
HERE = Here("web1", "machine-1", "boot-1", "4026531836")


def holder(**changes: object) -> LockInfo:
    base = LockInfo("alice", os.getpid(), "web1", "deploy", time.time(), time.time() + 600,
                    "t0k3n", "machine-1", "boot-1", "4026531836",
                    process_start(os.getpid()))
    return replace(base, **changes)  # type: ignore[arg-type]


def why(info: LockInfo) -> str | None:
    return info.stale(here=HERE)


def test_a_live_holder_of_this_boot_is_alive() -> None:
    assert why(holder()) is None


def test_a_dead_pid_of_this_boot_and_pid_namespace_is_gone() -> None:
    assert why(holder(pid=GONE_PID, start="")) == "its process is gone"


def test_a_reused_pid_is_not_its_holder() -> None:
    """The pid runs, but it is another process (it started at another time)."""
    assert why(holder(start="1")) == "its process is gone"


def test_a_pid_of_an_earlier_boot_is_not_alive_even_if_it_runs_now() -> None:
    assert why(holder(boot="boot-0")) == "its machine restarted since"


def test_a_holder_on_another_machine_with_the_same_host_name_is_not_judged_by_pid() -> None:
    """Host names repeat (cloned machines): a dead pid *here* says nothing about it."""
    here = Here(socket.gethostname(), "machine-1", "boot-1", "1")
    other = holder(host=socket.gethostname(), machine="machine-2", boot="boot-9", pid=GONE_PID)
    assert other.stale(here=here) is None
    assert other.stale() is None  # and with this machine's real identity


def test_another_pid_namespace_on_this_kernel_is_not_judged_by_pid() -> None:
    assert why(holder(pidns="4026532000", pid=GONE_PID)) is None


def test_same_machine_id_under_another_host_name_is_not_a_restart() -> None:
    assert why(holder(host="web2", boot="boot-0")) is None


def test_a_lock_of_an_older_workbench_is_judged_by_its_expiry_only() -> None:
    legacy = LockInfo.parse(b'{"holder": "alice", "pid": %d, "host": "%s", "command": "deploy", '
                            b'"started": 1, "expires": %d}' % (
                                GONE_PID, socket.gethostname().encode(), time.time() + 600))
    assert legacy is not None and legacy.token == "" and legacy.stale() is None
    assert replace(legacy, expires=2.0).stale() == "expired"


def test_expiry_and_judge_use_the_clock_given() -> None:
    info = holder(expires=100.0)
    assert info.stale(now=100.0, here=HERE) is None
    assert info.stale(now=100.5, here=HERE) == "expired"
    assert judge("web1", "", "", "", GONE_PID, "", HERE) is None  # nothing known: no judgement


def test_this_process_is_described_by_who_it_is() -> None:
    mine = LockInfo.mine("deploy orders", ttl=60)
    here = Here.this()
    assert (mine.pid, mine.host, mine.boot, mine.pidns) == (
        os.getpid(), socket.gethostname(), here.boot, here.pidns)
    assert mine.token and mine.token != LockInfo.mine("deploy orders").token
    if Path("/proc/sys/kernel/random/boot_id").exists():
        assert mine.boot and mine.pidns and mine.start
    assert LockInfo.parse(mine.dump()) == mine
    assert mine.stale() is None


# -- release_lock --------------------------------------------------------------------------------
async def test_release_refuses_a_live_holder_unless_forced(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state")
    live = LockInfo.mine("deploy orders")
    await store.write(LOCK, live.dump())
    with pytest.raises(Locked) as caught:
        await release_lock(store, "staging", force=False)
    err = caught.value
    assert err.exit_code == ExitCode.LOCKED and "\n" not in err.line
    assert err.line.startswith("environment 'staging' is locked by ")
    assert "deploy orders" in err.line and "which may still be running" in err.line
    assert err.line.endswith("'workbench --batch lock release --env staging --force' if you "
                             "are sure it is gone")
    assert await status(store) == live

    assert await release_lock(store, "staging", force=True) == live
    assert await status(store) is None
    assert list((tmp_path / "state").iterdir()) == []


@pytest.mark.parametrize("stale", ["expired", "gone"])
async def test_release_removes_a_stale_lock_without_force(tmp_path: Path, stale: str) -> None:
    store = LocalStore(tmp_path)
    mine = LockInfo.mine("deploy orders")
    old = replace(mine, expires=2.0) if stale == "expired" else replace(mine, pid=GONE_PID)
    await store.write(LOCK, old.dump())
    assert await release_lock(store, "staging", force=False) == old
    assert await status(store) is None


async def test_release_of_no_lock_and_of_an_unreadable_one(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert await release_lock(store, "staging", force=False) is None
    await store.write(LOCK, b"garbage")
    held = await status(store)
    assert held is not None and held.describe() == "an unreadable lock"
    assert await release_lock(store, "staging", force=False) == held
    assert await status(store) is None
