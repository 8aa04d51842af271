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


def starter(fn: Function, out: Path, env: dict[str, str], log_file: str,
            function_arn: str) -> Callable[[], ApiEnvironment]:
    """``env``: the function's variables (``config.lambda_environment``)."""
    if fn.image is None:
        command, extra, task = zip_environment(fn, out)
        path = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        return lambda: ApiEnvironment(command, env | extra | path, log_file, function_arn,
                                      cwd=str(task))
    env_file = images.env_file(out / "env" / f"{fn.name}.env", env)

    def start() -> ApiEnvironment:
        cidfile = out / "containers" / f"{fn.name}-{uuid.uuid4().hex[:8]}.cid"
        cidfile.parent.mkdir(parents=True, exist_ok=True)
        return ApiEnvironment(images.run_command(fn, env_file, cidfile),
                              {"PATH": os.environ.get("PATH", "")}, log_file, function_arn,
                              cidfile=cidfile)
    return start
