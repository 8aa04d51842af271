"""Files that survive a power cut: data fsynced before it is counted on, and directories
fsynced so the names pointing at it survive too (fsync(2): syncing a file does not make its
directory entry durable).

``sync=False`` leaves everything to the operating system's cache: the crash harness uses it as
its negative control, to show that it catches what fsync prevents.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class Files:
    def __init__(self, sync: bool = True) -> None:
        self.sync = sync

    def mkdirs(self, folder: Path) -> None:
        """``folder`` and its missing parents, each created one made durable in its parent."""
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for made in reversed(missing):
            made.mkdir(exist_ok=True)
            self.sync_dir(made.parent)

    def sync_dir(self, folder: Path) -> None:
        if not self.sync:
            return
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_new(self, folder: Path, stem: str, value: bytes) -> Path:
        """``value`` in a new file under ``folder`` named ``<stem>.<random>``, its bytes on disk
        when this returns. Its name becomes durable with the next ``sync_dir(folder)``: until
        then a crash may leave no file, never a short one under a name that was counted on."""
        path = folder / f"{stem}.{secrets.token_hex(6)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(value)
            while view:
                view = view[os.write(fd, view):]
            if self.sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        return path
