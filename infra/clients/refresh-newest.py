"""Pin the newest release of each client in ``newest.txt``, the constraints of the client
tests' second environment (``tests/integration/clients.py``).

Run: ``.venv/bin/python infra/clients/refresh-newest.py``. The clients are the names already in
the file; the versions are asked of the index pip installs from (PIP_INDEX_URL or pip's
``index-url`` setting, else PyPI), through its JSON form of the simple API (PEP 691), which
PyPI and its mirrors serve. Pre-releases and yanked releases are left out.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from packaging.version import InvalidVersion, Version

CONSTRAINTS = Path(__file__).resolve().parent / "newest.txt"
PYPI = "https://pypi.org/simple"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==")


def index_url() -> str:
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    got = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                         capture_output=True, text=True, check=False)
    return got.stdout.strip() if got.returncode == 0 and got.stdout.strip() else PYPI


def newest(index: str, name: str) -> str:
    request = urllib.request.Request(f"{index.rstrip('/')}/{name}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        project = json.load(response)
    # A release counts when one of its files is not yanked (PEP 592).
    released: set[Version] = set()
    for file in project["files"]:
        if file.get("yanked"):
            continue
        try:
            version = Version(_version_of(name, file["filename"]))
        except InvalidVersion:
            continue
        if not version.is_prerelease:
            released.add(version)
    if not released:
        raise SystemExit(f"{index} lists no release of {name}")
    return str(max(released))


def _version_of(name: str, filename: str) -> str:
    """The version in a wheel's or an sdist's file name (``<name>-<version>[-...].<ext>``)."""
    stem = re.sub(r"\.(whl|tar\.gz|zip|tar\.bz2|egg)$", "", filename)
    prefix = re.sub(r"[-_.]+", "_", name).lower() + "-"
    normalized = re.sub(r"[-_.]+", "_", stem.split("-", 1)[0]).lower() + "-"
    if normalized != prefix:
        raise InvalidVersion(filename)
    return stem.split("-")[1]


def main() -> None:
    names = [m["name"] for line in CONSTRAINTS.read_text().splitlines()
             if (m := PIN.match(line))]
    index = index_url()
    pins = {name: newest(index, name) for name in names}
    today = datetime.date.today().isoformat()
    CONSTRAINTS.write_text(
        "# The newest release of each client a user may point at the stack: the client tests\n"
        "# run once with the project's pins and once with these (tests/integration/clients.py).\n"
        f"# Written by infra/clients/refresh-newest.py from {index} on {today}.\n"
        + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    for name, version in sorted(pins.items()):
        print(f"{name}=={version}")


if __name__ == "__main__":
    main()
