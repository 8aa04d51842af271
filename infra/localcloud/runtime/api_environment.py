"""An execution environment of a built function: a process (a zip function's interpreter, or a
container) running AWS's runtime interface client against this environment's Runtime API.

It answers the pool as the in-process worker does: ``wait`` gives ``(ok, payload,
duration_ms)``, or why no answer came (``timeout``, ``memory``, ``died``). Memory is the
resident size of the process tree that runs the handler (a container's own processes
included, found from its pid), checked as often as the worker pool checks its own.
"""

from __future__ import annotations

import queue
import subprocess
import time
from pathlib import Path

import psutil

from localcloud.runtime.lambda_api import RuntimeApi

_POLL_S = 0.2


class ApiEnvironment:
    def __init__(self, command: list[str], environment: dict[str, str], log_file: str,
                 function_arn: str, cwd: str | None = None, cidfile: Path | None = None
                 ) -> None:
        """``cidfile``: where ``podman run --cidfile`` writes the container's id, when the
        handler runs in a container (its processes are not this process's children)."""
        self.api = RuntimeApi(function_arn)
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as log:
            self.proc = subprocess.Popen(
                command, env=environment | {"AWS_LAMBDA_RUNTIME_API": self.api.address},
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=cwd,
                start_new_session=True)
        self.ps = psutil.Process(self.proc.pid)
        self.cidfile = cidfile
        self._container: psutil.Process | None = None
        self._sent_at = 0.0

    @property
    def exitcode(self) -> int | None:
        return self.proc.poll()

    def send(self, request_id: str, event_json: bytes, deadline: float) -> None:
        self._sent_at = time.perf_counter()
        self.api.submit(request_id, event_json, deadline)

    def wait(self, deadline: float, memory_mb: int | None) -> tuple[bool, bytes, float] | str:
        """Before the first event: until the client asks for one (init done) or reports an
        init error. After ``send``: until the invocation's outcome."""
        while True:
            if not self._sent_at and self.api.ready.is_set():
                return True, b"", 0.0
            try:
                ok, payload = self.api.outcomes.get(timeout=_POLL_S)
                return ok, payload, (time.perf_counter() - self._sent_at) * 1000
            except queue.Empty:
                pass
            if time.time() >= deadline:
                return "timeout"
            if self.proc.poll() is not None:
                return "died"
            if memory_mb and self.rss_mb() > memory_mb:
                return "memory"

    def rss_mb(self) -> float:
        total = 0
        for root in (self.ps, self._container_root()):
            try:
                for p in [root, *root.children(recursive=True)] if root else []:
                    total += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 2**20

    def _container_root(self) -> psutil.Process | None:
        """The container's first process, asked of podman once it has started."""
        if self._container is None and self.cidfile and self.cidfile.exists():
            pid = subprocess.run(["podman", "inspect", "--format", "{{.State.Pid}}",
                                  self.cidfile.read_text().strip()],
                                 capture_output=True, text=True, check=False).stdout.strip()
            if pid.isdigit() and int(pid):
                self._container = psutil.Process(int(pid))
        return self._container

    def kill(self) -> None:
        if self.cidfile and self.cidfile.exists():
            subprocess.run(["podman", "rm", "--force", "--time", "0", "--cidfile",
                            str(self.cidfile)], capture_output=True, check=False)
        try:
            for p in [*self.ps.children(recursive=True), self.ps]:
                p.kill()
        except psutil.NoSuchProcess:
            pass
        self.proc.wait(timeout=10)
        self.api.close()
