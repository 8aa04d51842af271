"""Supervise the local cloud's daemons: start (idempotently), health-check, report, stop.

Each part is a separate background process with a pid file, a port and a log file under the
state folder, so the function runtime can be killed and restarted without losing the
emulator's queues or the database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil

from localcloud import postgres, viewer
from simulators.settings import (
    BazaarSettings,
    DatasyncServerSettings,
    HallowSettings,
    SnapshotsSettings,
    TimelineSettings,
)
from tributary.settings import Settings


class StackError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    port: int
    argv: list[str]
    healthy: Callable[[], bool]
    marker: str  # a string in the process command line that proves the pid is ours
    prepare: Callable[[], None] = lambda: None
    after_healthy: Callable[[], None] = lambda: None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    env: dict[str, str] = field(default_factory=dict)
    after_runtime: bool = False  # it calls the functions, so it starts once they can answer


@dataclass
class Status:
    name: str
    state: str  # running | stopped | unhealthy
    healthy: bool
    pid: int | None
    port: int
    log: str
    rss_mb: float | None
    reused: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.notes: list[str] = []  # what start-up did besides starting processes
        self.home = settings.home_dir
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs"
        py = sys.executable
        # Children get absolute paths so they agree with us whatever their working directory.
        child_env = {"TRIBUTARY_HOME": str(self.home),
                     "TRIBUTARY_TEMPLATE": str(settings.template.resolve())}
        self.services: list[Service] = [
            Service("emulator", settings.emulator_port,
                    [py, "-m", "localcloud.emulator", "--host", settings.host,
                     "--port", str(settings.emulator_port), "--runtime-url", settings.runtime_url,
                     "--athena-url", settings.athena_url,
                     "--state-dir", str(self.home / "emulator")],
                    _http_ok(f"{settings.emulator_url}/_tributary/health"), "localcloud.emulator"),
        ]
        if settings.pg_is_local:
            dsn = settings.pg_dsn.get_secret_value()
            data = self.home / "pg" / "data"
            self.services.append(Service(
                "postgres", postgres.dsn_parts(dsn)[1], postgres.argv(data, dsn),
                lambda: postgres.healthy(dsn), str(data),
                prepare=lambda: postgres.prepare(data, dsn),
                after_healthy=lambda: postgres.ensure_database(dsn, settings.reader_dsn),
                user=postgres.run_as(), stop_signal=signal.SIGINT))
        datasync = DatasyncServerSettings()  # read now: one process may run several stacks
        if datasync.is_local:  # otherwise the pipeline talks to the real (or another) server
            self.services.append(Service(
                "datasync", datasync.port, [py, "-m", "simulators.datasync"],
                _http_ok(f"http://127.0.0.1:{datasync.port}/health"), "simulators.datasync"))
        snapshots = SnapshotsSettings()
        if snapshots.is_local:
            self.services.append(Service(
                "snapshots", snapshots.port, [py, "-m", "simulators.snapshots"],
                _http_ok(f"http://127.0.0.1:{snapshots.port}/health"), "simulators.snapshots"))
        bazaar = BazaarSettings()
        if bazaar.is_local:
            self.services.append(Service(
                "bazaar", bazaar.port, [py, "-m", "simulators.bazaar"],
                _http_ok(f"http://127.0.0.1:{bazaar.port}/health"), "simulators.bazaar"))
        timeline = TimelineSettings()
        if timeline.is_local:
            self.services.append(Service(
                "timeline", timeline.port, [py, "-m", "simulators.timeline"],
                _http_ok(f"http://127.0.0.1:{timeline.port}/health"), "simulators.timeline"))
        self.services.append(Service(
            "runtime", settings.runtime_port, [py, "-m", "localcloud.runtime"],
            _http_ok(f"{settings.runtime_url}/_runtime/health"), "localcloud.runtime",
            env=child_env | {"TRIBUTARY_RUNTIME_FROM_BUILD": str(self.from_build).lower()}))
        # Queries reach the lake and PostgreSQL: it starts once they are there.
        self.services.append(Service(
            "athena", settings.athena_port, [py, "-m", "localcloud.athena"],
            _http_ok(f"{settings.athena_url}/health"), "localcloud.athena", after_runtime=True))
        hallow = HallowSettings()
        self.services.append(Service(
            "hallow", hallow.port, [py, "-m", "simulators.hallow"],
            _http_ok(f"http://127.0.0.1:{hallow.port}/health"), "simulators.hallow",
            env={"TRIBUTARY_HALLOW_TARGET_URL": f"{settings.runtime_url}/webhook/events"},
            after_runtime=True))
        for s in self.services:
            s.env = {**child_env, **s.env}

    # -- what the runtime runs -----------------------------------------------------------------
    @property
    def from_build(self) -> bool:
        """Whether the runtime runs the built artifacts (kept in the state folder, so a
        restarted runtime runs what it ran before)."""
        return self.settings.runtime_from_build or (self.home / "from-build").exists()

    def run_built(self, on: bool) -> bool:
        """Run the built artifacts (or the checkout); True when that changed the mode."""
        marker = self.home / "from-build"
        if on == marker.exists():
            return False
        if on:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("tributary build's artifacts, in build/\n")
        else:
            marker.unlink()
        return True

    # -- pid bookkeeping ------------------------------------------------------------------------
    def _pid_file(self, svc: Service) -> Path:
        return self.run_dir / f"{svc.name}.pid"

    def _log_file(self, svc: Service) -> Path:
        return self.log_dir / f"{svc.name}.log"

    def pid(self, svc: Service) -> int | None:
        try:
            pid = int(self._pid_file(svc).read_text().strip())
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
            # An empty command line is a process caught mid-exec, right after its start.
            if proc.status() != psutil.STATUS_ZOMBIE and (
                    not cmdline or svc.marker in " ".join(cmdline)):
                return pid
        except (FileNotFoundError, ValueError, psutil.Error):
            pass
        return None

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise StackError(f"no service {name!r}; services: {[s.name for s in self.services]}")

    # -- operations -----------------------------------------------------------------------------
    def status(self) -> list[Status]:
        out = []
        for svc in self.services:
            pid = self.pid(svc)
            ok = pid is not None and svc.healthy()
            rss = None
            if pid:
                with contextlib.suppress(psutil.Error):
                    rss = round(psutil.Process(pid).memory_info().rss / 2**20, 1)
            state = "stopped" if pid is None else ("running" if ok else "unhealthy")
            out.append(Status(svc.name, state, ok, pid, svc.port, str(self._log_file(svc)), rss))
        return out

    def start(self, svc: Service) -> bool:
        """Start ``svc`` unless it already runs; True when an existing process was reused."""
        if self.pid(svc) is not None:
            return True
        # A process that just died (say, SIGKILLed) can hold its port for a moment while its
        # threads are torn down; a live stranger holds it for good.
        if not _wait_port_free(self.settings.host, svc.port, 10.0):
            holder = _listener(svc.port)
            raise StackError(f"{svc.name}: port {svc.port} is taken by {holder}; "
                             f"stop it or change the port setting")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        svc.prepare()
        log = open(self._log_file(svc), "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            svc.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, user=svc.user, env={**os.environ, **svc.env},
        )
        log.close()
        self._pid_file(svc).write_text(str(proc.pid))
        return False

    def _gone(self, svc: Service) -> bool:
        """Still no process a moment later: not a glimpse of one mid-start."""
        time.sleep(0.2)
        return self.pid(svc) is None

    def wait_healthy(self, svc: Service, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid(svc) is None and self._gone(svc):
                raise StackError(f"{svc.name} exited during start-up; see {self._log_file(svc)}:\n"
                                 + _tail(self._log_file(svc)))
            if svc.healthy():
                svc.after_healthy()
                return
            time.sleep(0.1)
        raise StackError(f"{svc.name} not healthy after {timeout_s:.0f}s; see "
                         f"{self._log_file(svc)}:\n" + _tail(self._log_file(svc)))

    def up(self, deploy: Callable[[], object] | None = None) -> list[Status]:
        """Start every part (reusing running ones), deploy, and wait until all are healthy.
        A start that fails (a damaged state, a port taken) stops what it started: no half
        stack is left running."""
        started: list[Service] = []
        try:
            reused = self._up(deploy, started)
        except BaseException:
            for svc in reversed(started):
                self.stop(svc)
            raise
        statuses = self.status()
        for st in statuses:
            st.reused = reused.get(st.name, False)
        return statuses

    def _up(self, deploy: Callable[[], object] | None, started: list[Service]) -> dict[str, bool]:
        timeout = self.settings.startup_timeout_s
        reused = {}

        def start(svc: Service) -> None:
            reused[svc.name] = self.start(svc)
            if not reused[svc.name]:
                started.append(svc)

        infra = [s for s in self.services if s.name != "runtime" and not s.after_runtime]
        for svc in infra:  # emulator and database start in parallel
            start(svc)
        for svc in infra:
            self.wait_healthy(svc, timeout)
        if deploy is not None:
            deploy()
        self.notes.append(viewer.ensure_built())
        runtime = self.service("runtime")
        start(runtime)
        self.wait_healthy(runtime, timeout)
        for svc in (s for s in self.services if s.after_runtime):
            start(svc)
            self.wait_healthy(svc, timeout)
        return reused

    def stop(self, svc: Service, timeout_s: float = 15.0) -> bool:
        pid = self.pid(svc)
        if pid is None:
            self._pid_file(svc).unlink(missing_ok=True)
            return False
        proc = psutil.Process(pid)
        children = proc.children(recursive=True)
        proc.send_signal(svc.stop_signal)
        if not _wait_gone([proc], timeout_s):
            proc.kill()
        for child in children:  # e.g. function workers, should any outlive their parent
            if _alive(child):
                child.kill()
        _wait_gone([proc, *children], 5)
        # A multi-threaded daemon's leader can be a zombie while its other threads still
        # hold the listening socket; stopped means the port is free again.
        _wait_port_free(self.settings.host, svc.port, 10.0)
        self._pid_file(svc).unlink(missing_ok=True)
        return True

    def data_dirs(self) -> list[Path]:
        """Where the stack keeps data (the state folder's layout is in the README)."""
        return [self.home / "emulator", self.home / "pg"]

    def purge(self) -> list[Path]:
        """Delete every data folder of a stopped stack; returns those that existed."""
        running = [s.name for s in self.services if self.pid(s) is not None]
        if running:
            raise StackError(f"still running: {', '.join(running)}; stop the stack first")
        gone = [d for d in self.data_dirs() if d.exists()]
        for d in gone:
            shutil.rmtree(d)
        return gone

    def down(self) -> list[str]:
        stopped = []
        for svc in reversed(self.services):
            if self.stop(svc):
                stopped.append(svc.name)
        return stopped


def _wait_port_free(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _port_in_use(host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _listener(port: int) -> str:
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            if conn.pid is None:
                return "a process this user cannot see"
            try:
                return f"pid {conn.pid} ({' '.join(psutil.Process(conn.pid).cmdline())[:120]})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return "another process"


def _alive(proc: psutil.Process) -> bool:
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return True
    except psutil.NoSuchProcess:
        return False
    with contextlib.suppress(ChildProcessError):  # a zombie that is our own child: reap it
        os.waitpid(proc.pid, os.WNOHANG)
    return False


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in procs):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
