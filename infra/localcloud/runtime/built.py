"""Environments of built artifacts (``stack up --from-build``): what ``tributary build`` left
in the state folder's ``build/``, started as Lambda starts it.

A zip function runs in its runtime's own Python (``build.zip_environment``: the artifact, its
layers and what the runtime provides, nothing else on the path); an image function runs in a
container of its image. Either talks to its environment's Runtime API through AWS's runtime
interface client, so what runs here is what ships.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from localcloud import images
from localcloud.build import zip_environment
from localcloud.runtime.api_environment import ApiEnvironment
from localcloud.template import Function

# The host's, not the function's: a container has its own, a zip function gets Lambda's.
_HOST_ONLY = ("PATH", "HOME", "VIRTUAL_ENV", "PYTHONPATH", "LANG", "LC_ALL")


def starter(fn: Function, out: Path, environment: dict[str, str], log_file: str,
            function_arn: str) -> Callable[[], ApiEnvironment]:
    env = {k: v for k, v in environment.items() if k not in _HOST_ONLY}
    if fn.image is None:
        command, extra, task = zip_environment(fn, out)
        path = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        return lambda: ApiEnvironment(command, env | extra | path, log_file, function_arn,
                                      cwd=str(task))
    env_file = _env_file(out / "env" / f"{fn.name}.env", env)

    def start() -> ApiEnvironment:
        cidfile = out / "containers" / f"{fn.name}-{uuid.uuid4().hex[:8]}.cid"
        cidfile.parent.mkdir(parents=True, exist_ok=True)
        return ApiEnvironment(images.run_command(fn, env_file, cidfile),
                              {"PATH": os.environ.get("PATH", "")}, log_file, function_arn,
                              cidfile=cidfile)
    return start


def _env_file(path: Path, env: dict[str, str]) -> Path:
    """The function's variables for ``podman run --env-file`` (owner-only: it holds the
    database password), not on a command line anyone can read."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in sorted(env.items()) if "\n" not in v)
    return path
