"""Child processes of the local stack: each in its own process group, its output in a log file.

`ManagedProcess` is used for the infrastructure (Kafka, PostgreSQL, localstripe, the SMTP sink)
and for the services started by `make run` and by end-to-end tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx
import psutil

DEFAULT_STOP_TIMEOUT = 15.0
_POLL_INTERVAL = 0.2


class StartupError(RuntimeError):
    """A component did not become ready; the message ends with the tail of its log."""


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


def startup_error(name: str, reason: str, log_path: Path) -> StartupError:
    return StartupError(f"{name}: {reason}\n--- last lines of {log_path} ---\n{log_tail(log_path)}")


class ManagedProcess:
    """One child process, started in a new session (so its own process group).

    Its stdout and stderr go to `log_path`; with `echo=True` each line is also printed to the
    console with a `[name] ` prefix. `stop()` sends `stop_signal` to the whole group, waits, then
    kills the group.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        echo: bool = False,
        stop_signal: signal.Signals = signal.SIGTERM,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.echo = echo
        self.stop_signal = stop_signal
        self.user = user
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._pump: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was already started")
        if shutil.which(self.argv[0], path=self.env.get("PATH")) is None:
            raise StartupError(f"{self.name}: command not found: {self.argv[0]}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab", buffering=0)
        self._log.write(f"--- {time.strftime('%F %T')} starting: {' '.join(self.argv)}\n".encode())
        try:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.echo else self._log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                user=self.user,
                group=self._group(),
                extra_groups=[] if self.user is not None else None,
            )
        except OSError as error:
            self._close()
            raise StartupError(f"{self.name}: cannot start {self.argv[0]}: {error}") from error
        if self.echo:
            self._pump = threading.Thread(target=self._copy_output, daemon=True)
            self._pump.start()

    def _group(self) -> str | None:
        if self.user is None:
            return None
        import grp
        import pwd

        return grp.getgrgid(pwd.getpwnam(self.user).pw_gid).gr_name

    def _copy_output(self) -> None:
        assert self._popen is not None and self._popen.stdout is not None
        assert self._log is not None
        prefix = f"[{self.name}] "
        for line in iter(self._popen.stdout.readline, b""):
            self._log.write(line)
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()

    def send_signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the process group (a no-op once the group is gone)."""
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    def terminate(self) -> None:
        self.send_signal(self.stop_signal)

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        self.send_signal(sig)

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit; raises TimeoutError after `timeout` seconds."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was not started")
        popen = self._popen
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := popen.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name} still running after {timeout}s")
            await asyncio.sleep(_POLL_INTERVAL)
        return code

    async def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> int | None:
        """Ask the group to stop, kill it after `timeout`; returns the exit code."""
        if self._popen is None:
            return None
        if self.running:
            self.terminate()
            try:
                await self.wait(timeout)
            except TimeoutError:
                self.kill()
        code = await self.wait()
        self.kill()  # sweep anything left in the group
        self._close()
        return code

    def _close(self) -> None:
        if self._pump is not None:
            self._pump.join(timeout=5)
            self._pump = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def error(self, reason: str) -> StartupError:
        return startup_error(self.name, reason, self.log_path)

    def check_alive(self) -> None:
        """Raise a StartupError (with the log tail) if the process has exited."""
        code = self.returncode
        if code is not None:
            raise self.error(f"exited with code {code} while starting")

    async def wait_http_ok(self, url: str, timeout: float) -> None:
        await wait_http_ok(url, timeout, process=self)

    async def wait_tcp(self, host: str, port: int, timeout: float) -> None:
        await wait_tcp(host, port, timeout, process=self)


async def wait_until(
    probe: Callable[[], Awaitable[bool]],
    timeout: float,
    what: str,
    *,
    process: ManagedProcess | None = None,
    log_path: Path | None = None,
) -> None:
    """Call `probe` until it returns True; fail early if `process` exits, else after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None:
            process.check_alive()
        if await probe():
            return
        if time.monotonic() >= deadline:
            reason = f"{what} not ready after {timeout:.0f}s"
            if process is not None:
                raise process.error(reason)
            if log_path is not None:
                raise startup_error(what, reason, log_path)
            raise StartupError(reason)
        await asyncio.sleep(_POLL_INTERVAL)


async def wait_http_ok(url: str, timeout: float, *, process: ManagedProcess | None = None) -> None:
    """Wait until GET `url` answers with a 2xx status."""

    async def probe() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(url)).is_success
        except httpx.HTTPError:
            return False

    await wait_until(probe, timeout, f"GET {url}", process=process)


async def wait_tcp(
    host: str, port: int, timeout: float, *, process: ManagedProcess | None = None
) -> None:
    """Wait until a TCP connection to host:port succeeds."""

    async def probe() -> bool:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    await wait_until(probe, timeout, f"tcp {host}:{port}", process=process)


def is_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is dead, only not yet reaped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def processes_in_groups(groups: Iterable[int]) -> list[int]:
    """Pids of live processes in any of the process groups `groups`."""
    wanted = set(groups)
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) in wanted and is_alive(process.pid):
                found.append(process.pid)
        except (psutil.Error, ProcessLookupError):
            continue  # gone meanwhile
    return sorted(found)


def child_processes(parent: int) -> list[int]:
    """Pids of the live descendants of `parent`."""
    try:
        children = psutil.Process(parent).children(recursive=True)
    except psutil.Error:
        return []
    return sorted(c.pid for c in children if is_alive(c.pid))


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_free_ports(name: str, host: str, ports: Sequence[int]) -> None:
    """Fail fast, with a clear message, when another process already listens on a port."""
    busy = [p for p in ports if port_in_use(host, p)]
    if busy:
        raise StartupError(
            f"{name}: port(s) {', '.join(map(str, busy))} on {host} already in use "
            "(is another stack running with the same ports?)"
        )


async def run_command(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    timeout: float = 600.0,
) -> None:
    """Run a one-shot command to completion, appending its output to `log_path`."""
    proc = ManagedProcess(name, argv, log_path=log_path, env=env, cwd=cwd, user=user)
    proc.start()
    try:
        code = await proc.wait(timeout)
    except TimeoutError:
        raise proc.error(f"timed out after {timeout:.0f}s") from None
    finally:
        await proc.stop(timeout=5)
    if code != 0:
        raise proc.error(f"{' '.join(argv[:3])} ... exited with code {code}")
