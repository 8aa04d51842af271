"""The live viewer's static site: built from ``viewer/`` (SvelteKit) into
``functions/viewer/site/``, which the viewer function serves. ``stack up`` builds it when it
is missing or older than its sources, so a fresh clone needs nothing but Node.js and npm."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "viewer"
SITE = ROOT / "functions" / "viewer" / "site"


class ViewerBuildError(RuntimeError):
    pass


def _newest(paths: list[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def stale() -> bool:
    inputs = [*SOURCE.glob("src/**/*"), *SOURCE.glob("static/**/*"), *SOURCE.glob("scripts/*"),
              *(SOURCE / n for n in ("package.json", "package-lock.json", "svelte.config.js",
                                     "vite.config.ts"))]
    index = SITE / "index.html"
    return not index.is_file() or index.stat().st_mtime < _newest(inputs)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, cwd=SOURCE, capture_output=True, text=True, check=False)
    if done.returncode:
        raise ViewerBuildError(f"{' '.join(argv)} failed in {SOURCE}:\n"
                               + (done.stdout + done.stderr)[-3000:])


def ensure_built() -> str:
    """Build the site if needed; says what it did (or why it could not)."""
    if not SOURCE.is_dir():
        return "no viewer/ folder: the live viewer is not served"
    SITE.parent.mkdir(parents=True, exist_ok=True)
    with open(SITE.parent / ".build.lock", "w") as lock:  # one build at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stale():
            return "live viewer: up to date"
        if shutil.which("npm") is None:
            return "npm not found: the live viewer is not built (install Node.js 20 and npm)"
        if _newest([SOURCE / "package-lock.json"]) > _newest(
                [SOURCE / "node_modules" / ".package-lock.json"]):
            _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"])
        _run(["npm", "run", "build"])
    return f"live viewer: built into {SITE.relative_to(ROOT)}"
