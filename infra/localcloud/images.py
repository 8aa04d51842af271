"""Container images for the image functions, built with Podman from each function's
``Metadata`` (the same Dockerfile, context and build arguments ``sam build`` uses).

No registry is reachable here, so the base image is made locally unless another is named:
Debian trixie (Python 3.13) by debootstrap, imported into Podman, plus what Lambda's runtime
provides (``infra/lambda-image/local-base``). Podman runs containers here with ``runc``, the
ulimits below and the host's network (SPEC 3).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from localcloud.deploy import image_uri
from localcloud.template import Function

LOCAL_BASE = "localhost/tributary-lambda-base:python3.13"
ROOTFS = "localhost/tributary-debian-rootfs:trixie"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class ImageError(RuntimeError):
    """An image could not be built or run; the message says what to do."""


def engine() -> str | None:
    return shutil.which("podman")


def exists(tag: str) -> bool:
    return subprocess.run([*PODMAN, "image", "exists", tag], check=False).returncode == 0


def _trust() -> list[str]:
    """The machine's CA bundle for pip inside a build (TLS here may be re-signed by a proxy)."""
    if not CA_BUNDLE.exists():
        return []
    return ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro", "--build-arg", f"PIP_CERT={CA_BUNDLE}"]


def _build(args: list[str], what: str) -> None:
    proc = subprocess.run([*PODMAN, "build", "--network", "host", *LIMITS, *_trust(), *args],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise ImageError(f"building {what} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def local_base(dockerfiles: Path) -> str:
    """The local stand-in for AWS's base image, made once."""
    if exists(LOCAL_BASE):
        return LOCAL_BASE
    if not exists(ROOTFS):
        _import_rootfs()
    _build(["-t", LOCAL_BASE, str(dockerfiles / "local-base")], "the local base image")
    return LOCAL_BASE


def _import_rootfs() -> None:
    if not shutil.which("debootstrap"):
        raise ImageError("no base image and no debootstrap to make one: apt-get install "
                         "debootstrap (or name a base with --image-base)")
    with tempfile.TemporaryDirectory(prefix="tributary-rootfs-") as tmp:
        root = Path(tmp) / "trixie"
        boot = subprocess.run(["debootstrap", "--variant=minbase",
                               "--include=python3,python3-pip,ca-certificates", "trixie",
                               str(root), DEBIAN_MIRROR], capture_output=True, text=True,
                              check=False)
        if boot.returncode:
            raise ImageError(f"debootstrap failed: {boot.stderr.strip()[-1000:]}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run([*PODMAN, "import", "-", ROOTFS], stdin=tar.stdout,
                                  capture_output=True, check=False)
        tar.wait()
        if imported.returncode:
            raise ImageError(f"podman import failed: {imported.stderr.decode()[-1000:]}")


def build_function(fn: Function, base: str) -> str:
    """Build ``fn``'s image FROM ``base``; returns its tag."""
    assert fn.image is not None
    tag = image_uri(fn)
    args = [f"--build-arg={k}={v}" for k, v in fn.image.build_args.items()]
    _build([*args, "--build-arg", f"BASE={base}", "-f", str(fn.image.dockerfile), "-t", tag,
            str(fn.image.context)], f"{fn.name}'s image")
    return tag


def size_mb(tag: str) -> float:
    out = subprocess.run([*PODMAN, "image", "inspect", "--format", "{{.Size}}", tag],
                         capture_output=True, text=True, check=False).stdout.strip()
    return int(out) / 2**20 if out.isdigit() else 0.0


def run_command(fn: Function, env_file: Path, cidfile: Path) -> list[str]:
    """How an environment of ``fn`` starts: its image, on the host's network (it reaches the
    emulator, PostgreSQL and its Runtime API on 127.0.0.1), its handler as the command."""
    cidfile.unlink(missing_ok=True)
    return [*PODMAN, "run", "--rm", "--network", "host", *LIMITS, "--env-file", str(env_file),
            "--env", "AWS_LAMBDA_RUNTIME_API", "--cidfile", str(cidfile), image_uri(fn),
            fn.handler]


def env_file(path: Path, env: dict[str, str]) -> Path:
    """Variables for ``podman run --env-file`` (owner-only: they hold the database password),
    not on a command line anyone on the machine can read."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in sorted(env.items()) if "\n" not in v)
    return path
