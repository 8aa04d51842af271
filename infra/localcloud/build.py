"""``tributary build``: every function of ``template.yaml`` built as AWS would run it, with its
size against Lambda's limits.

Zip functions and their layers are built by the pinned SAM CLI (``sam build``, no Docker: the
Python builder fetches wheels for Lambda's platform). Image functions are built from their
``Metadata`` (Dockerfile, context, build arguments) by the container engine
(``images.py``). The SAM CLI lives in a virtualenv of its own under the state folder: its
dependencies would fight the project's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from localcloud.cfn import load_yaml
from localcloud.deploy import image_uri
from localcloud.template import Function, Template

SAM_CLI = "aws-sam-cli==1.170.0"
ZIP_LIMIT_MB = 250.0  # unzipped, the function and all its layers (AWS Lambda quotas)
IMAGE_LIMIT_MB = 10_240.0
MAX_LAYERS = 5


class BuildError(RuntimeError):
    """A build could not run or did not finish; the message says what to do."""


@dataclass(frozen=True)
class Artifact:
    function: str
    package_type: str  # Zip or Image
    path: str  # the built folder (Zip) or the image's tag (Image)
    unzipped_mb: float  # Zip: function + its layers; Image: the image
    zipped_mb: float | None  # Zip only: the function's zip plus its layers' zips
    limit_mb: float
    layers: int = 0

    @property
    def fits(self) -> bool:
        return self.unzipped_mb <= self.limit_mb and self.layers <= MAX_LAYERS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"fits": self.fits}


def sam_executable(tools: Path) -> Path:
    """The pinned SAM CLI, installed into its own virtualenv under ``tools`` on first use."""
    venv = tools / SAM_CLI.replace("==", "-")
    sam = venv / "bin" / "sam"
    if not sam.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", SAM_CLI],
                             capture_output=True, text=True, check=False)
        if pip.returncode:
            shutil.rmtree(venv, ignore_errors=True)
            raise BuildError(f"could not install {SAM_CLI}: {pip.stderr.strip()[-500:]}")
    return sam


def python_for(runtime: str) -> Path:
    """An interpreter of the runtime's version (SAM builds with it; the runtime check of
    ``stack up --from-build`` runs with it): on PATH, or from pyenv."""
    name = runtime  # python3.13 is the interpreter's name too
    found = shutil.which(name)
    if found and "shims" not in found:
        return Path(found)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for version in sorted(pyenv.glob(f"{runtime.removeprefix('python')}.*"), reverse=True):
        if (version / "bin" / name).exists():
            return version / "bin" / name
    raise BuildError(f"no {name} here: the {runtime} functions are built and checked with it "
                     f"(install Python {runtime.removeprefix('python')}, e.g. with pyenv)")


def zip_template(template: Template, source: Path) -> dict[str, Any]:
    """The template's layers and zip functions alone, with absolute code paths: what
    ``sam build`` needs to build them without a container engine."""
    doc = load_yaml(source.read_text())
    resources = doc.get("Resources") or {}
    keep: dict[str, Any] = {}
    for fn in template.functions:
        if fn.image is None:
            props = resources[fn.logical_id]["Properties"]
            keep[fn.logical_id] = {"Type": "AWS::Serverless::Function", "Properties": {
                "CodeUri": str(fn.code_dir), "Handler": fn.handler, "Runtime": fn.runtime,
                "Architectures": ["x86_64"], "Layers": props.get("Layers") or []}}
    for logical_id, res in resources.items():
        if res.get("Type") == "AWS::Serverless::LayerVersion":
            props = dict(res.get("Properties") or {})
            props["ContentUri"] = str((source.parent / str(props["ContentUri"])).resolve())
            keep[logical_id] = res | {"Properties": props}
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Transform": "AWS::Serverless-2016-10-31", "Resources": keep}


def build_zips(template: Template, source: Path, out: Path, tools: Path) -> Path:
    """``sam build`` of the zip functions and layers into ``out``; returns the built
    template's folder."""
    out.mkdir(parents=True, exist_ok=True)
    derived = out / "zip-template.yaml"
    derived.write_text(yaml.safe_dump(zip_template(template, source), sort_keys=False))
    runtimes = {fn.runtime for fn in template.functions if fn.runtime}
    path = os.pathsep.join([*(str(python_for(r).parent) for r in sorted(runtimes)),
                            os.environ.get("PATH", "")])
    built = out / "sam"
    proc = subprocess.run(
        [str(sam_executable(tools)), "build", "--template-file", str(derived), "--build-dir",
         str(built), "--cache-dir", str(out / "sam-cache"), "--cached", "--parallel"],
        env=os.environ | {"PATH": path, "SAM_CLI_TELEMETRY": "0"}, cwd=out,
        capture_output=True, text=True, check=False)
    if proc.returncode:
        raise BuildError("sam build failed:\n" + (proc.stdout + proc.stderr).strip()[-3000:])
    return built


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()
               ) / 2**20


def zipped_mb(path: Path) -> float:
    """The folder as Lambda receives it: a deflated zip (written to measure, then removed)."""
    target = path.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(path.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(path))
    mb = target.stat().st_size / 2**20
    target.unlink()
    return mb


def zip_artifact(fn: Function, built: Path) -> Artifact:
    layer_ids = _layer_ids(built, fn)
    folders = [built / fn.logical_id, *(built / layer for layer in layer_ids)]
    return Artifact(fn.name, "Zip", str(built / fn.logical_id),
                    round(sum(size_mb(f) for f in folders), 1),
                    round(sum(zipped_mb(f) for f in folders), 1), ZIP_LIMIT_MB, len(layer_ids))


def _layer_ids(built: Path, fn: Function) -> list[str]:
    doc = load_yaml((built / "template.yaml").read_text())
    layers = doc["Resources"][fn.logical_id]["Properties"].get("Layers") or []
    return [str(ref["Ref"]) for ref in layers if isinstance(ref, dict) and "Ref" in ref]


# What Lambda's Python runtime itself provides beside a zip function (/var/runtime,
# /var/lang): the runtime interface client and boto3. The local stand-in pins both.
RUNTIME_PROVIDES = ("awslambdaric==4.2.2", "boto3==1.44.5")


def runtime_dir(out: Path, runtime: str) -> Path:
    """What the runtime provides, installed for its Python under ``out/runtime/<runtime>``."""
    target = out / "runtime" / runtime
    stamp = target / ".installed"
    if stamp.exists() and stamp.read_text() == " ".join(RUNTIME_PROVIDES):
        return target
    shutil.rmtree(target, ignore_errors=True)
    pip = subprocess.run([str(python_for(runtime)), "-m", "pip", "install", "-q", "--target",
                          str(target), "--only-binary=:all:", *RUNTIME_PROVIDES],
                         capture_output=True, text=True, check=False)
    if pip.returncode:
        raise BuildError(f"could not install {runtime}'s runtime client: "
                         f"{pip.stderr.strip()[-500:]}")
    stamp.write_text(" ".join(RUNTIME_PROVIDES))
    return target


def zip_environment(fn: Function, out: Path) -> tuple[list[str], dict[str, str], Path]:
    """How Lambda would start ``fn``'s built zip: its runtime's interpreter with only the
    artifact, its layers and what the runtime provides on the path (``-S``: nothing of the
    machine's site-packages), the function's folder as the working directory."""
    assert fn.runtime is not None
    built = out / "sam"
    task = built / fn.logical_id
    path = [task, *(built / layer / "python" for layer in _layer_ids(built, fn)),
            runtime_dir(out, fn.runtime)]
    env = {"PYTHONPATH": os.pathsep.join(map(str, path)), "LAMBDA_TASK_ROOT": str(task),
           "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}"}
    return [str(python_for(fn.runtime)), "-S", "-m", "awslambdaric", fn.handler], env, task


_CHECK = """
import importlib, os, sys
module, name = sys.argv[1].rsplit(".", 1)
handler = getattr(importlib.import_module(module), name)
if "tributary.sources.loader" in sys.modules:
    from tributary.settings import get_settings
    from tributary.sources import loader
    declared = loader.load_all(get_settings().sources_path)
    if not declared:
        sys.exit("no source declarations in the artifact")
    # The hooks a declaration names are imported when first used: by the module that uses
    # each kind, so by this function if it holds that module.
    users = {"tributary.extract.stream": "fetcher", "tributary.normalize.declared": "normalize",
             "tributary.live.changes": "message"}
    for user, kind in users.items():
        for ref in {getattr(s, kind, None) for src in declared.values() for s in src.streams}:
            if user in sys.modules and ref:
                hook, _, attr = ref.partition(":")
                getattr(importlib.import_module(hook), attr)
if handler.__module__ == "tributary.api.site":
    page = handler({"rawPath": "/viewer/"}, None)
    if page["statusCode"] != 200:
        sys.exit("the viewer's site is not in the artifact: " + page["body"])
print("ok")
"""


def check(fn: Function, out: Path, environment: dict[str, str]) -> str | None:
    """Load ``fn``'s handler inside its own artifact, as Lambda would (its runtime's Python,
    nothing but the artifact on the path, ``environment`` as its variables: a handler may
    read them at import), then read what it reads at start: the source declarations, the
    viewer's site. None when that works, else what failed."""
    from localcloud import images

    if fn.image is None:
        command, env, cwd = zip_environment(fn, out)
        argv = [command[0], "-S", "-c", _CHECK, fn.handler]
        env = environment | env
    else:
        variables = images.env_file(out / "env" / f"{fn.name}.env", environment)
        argv = [*images.PODMAN, "run", "--rm", "--network", "none", *images.LIMITS,
                "--env-file", str(variables), "--entrypoint", "python3", image_uri(fn), "-c",
                _CHECK, fn.handler]
        env, cwd = {}, out
    proc = subprocess.run(argv, env={"PATH": os.environ.get("PATH", "")} | env, cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1][-500:]


def build(template: Template, source: Path, out: Path, tools: Path, *, images_too: bool = True,
          image_base: str | None = None) -> list[Artifact]:
    """Every function (image functions unless ``images_too`` is off), measured; the
    artifacts' manifest (``out/manifest.json``) is what ``stack up --from-build`` runs."""
    from localcloud import images, viewer

    viewer.ensure_built()  # the viewer function's site is part of its artifact
    built = build_zips(template, source, out, tools)
    artifacts = [zip_artifact(fn, built) for fn in template.functions if fn.image is None]
    for runtime in sorted({fn.runtime for fn in template.functions if fn.runtime}):
        runtime_dir(out, runtime)
    image_fns = [fn for fn in template.functions if fn.image is not None]
    if images_too and image_fns:
        if images.engine() is None:
            raise BuildError("the image functions are built with Podman: apt-get install "
                             "podman runc (or build the zip functions alone: --zip-only)")
        dockerfiles = {fn.image.dockerfile.parent for fn in image_fns if fn.image}
        base = image_base or images.local_base(min(dockerfiles))
        for fn in image_fns:
            tag = images.build_function(fn, base)
            artifacts.append(Artifact(fn.name, "Image", tag, round(images.size_mb(tag), 1),
                                      None, IMAGE_LIMIT_MB))
    (out / "manifest.json").write_text(json.dumps([a.as_dict() for a in artifacts], indent=1))
    return artifacts
