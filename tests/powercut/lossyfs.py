"""A filesystem that forgets what was not fsynced, as a disk does when the power goes.

    python -m tests.powercut.lossyfs IMAGE MOUNTPOINT

Mounts (through FUSE, in the foreground) the tree saved in ``IMAGE`` (a new empty one if it
does not exist) and serves every call from memory. Each file keeps two contents: what was
written, and what was there at its last fsync; each directory keeps two sets of names: the
current ones, and those at its last fsync. Unmounting is the power cut: only the synced
contents, under the synced names, are saved to ``IMAGE`` for the next mount. So a file written
but never fsynced comes back empty (or as it was at its last fsync), a new name whose directory
was never fsynced comes back absent, and an unlink or rename that was never synced is undone:
the "lose unfsynced writes" model Jepsen's LazyFS uses, which the strictest filesystem allows.

Unmounting (``fusermount3 -u``) also drops the kernel's cache of the files, so the next mount
sees only what was saved.
"""

from __future__ import annotations

import errno
import pickle
import stat
import sys
import time
from pathlib import Path
from typing import Any

import mfusepy
from mfusepy import FuseOSError

# A saved tree: a directory is a dict of names, a file is its bytes.
Image = dict[str, Any]


class File:
    def __init__(self, data: bytes = b"") -> None:
        self.data = bytearray(data)
        self.synced = bytearray(data)
        self.dirty: list[tuple[int, int]] = []  # ranges written since the last fsync
        self.mtime = time.time_ns()

    def write(self, data: bytes, offset: int) -> None:
        end = offset + len(data)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = data
        self.dirty.append((offset, end))
        self.mtime = time.time_ns()

    def truncate(self, length: int) -> None:
        del self.data[length:]
        self.data.extend(bytes(length - len(self.data)))
        self.dirty.append((0, 0))  # the length itself changed
        self.mtime = time.time_ns()

    def sync(self) -> None:
        """Only the written ranges are copied: the SQLite WAL is synced at every commit."""
        del self.synced[len(self.data):]
        self.synced.extend(bytes(len(self.data) - len(self.synced)))
        for start, end in self.dirty:
            end = min(end, len(self.data))
            if start < end:
                self.synced[start:end] = self.data[start:end]
        self.dirty.clear()


class Folder:
    def __init__(self, entries: dict[str, File | Folder] | None = None) -> None:
        self.entries: dict[str, File | Folder] = dict(entries or {})
        self.synced: dict[str, File | Folder] = dict(self.entries)
        self.mtime = time.time_ns()

    def sync(self) -> None:
        self.synced = dict(self.entries)


def load(image: Image) -> Folder:
    return Folder({name: load(v) if isinstance(v, dict) else File(v)
                   for name, v in image.items()})


def durable(folder: Folder) -> Image:
    """What a power cut leaves: synced names, and under them synced contents."""
    return {name: durable(node) if isinstance(node, Folder) else bytes(node.synced)
            for name, node in folder.synced.items()}


class LossyFS(mfusepy.Operations):
    use_ns = True

    def __init__(self, image: Path) -> None:
        self.image = image
        self.root = load(pickle.loads(image.read_bytes())) if image.exists() else Folder()
        self.handles: dict[int, File | Folder] = {}
        self.next_fh = 1

    # -- names ------------------------------------------------------------------------------------
    def _find(self, path: str) -> File | Folder:
        node: File | Folder = self.root
        for part in filter(None, path.split("/")):
            if not isinstance(node, Folder) or part not in node.entries:
                raise FuseOSError(errno.ENOENT)
            node = node.entries[part]
        return node

    def _parent(self, path: str) -> tuple[Folder, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        parent = self._find(head or "/")
        if not isinstance(parent, Folder):
            raise FuseOSError(errno.ENOTDIR)
        return parent, name

    def _handle(self, node: File | Folder) -> int:
        fh, self.next_fh = self.next_fh, self.next_fh + 1
        self.handles[fh] = node
        return fh

    def _file(self, path: str, fh: int | None) -> File:
        node = self.handles.get(fh) if fh else None
        node = node or self._find(path)
        if not isinstance(node, File):
            raise FuseOSError(errno.EISDIR)
        return node

    # -- what the kernel asks ---------------------------------------------------------------------
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        node = self.handles.get(fh) if fh else None
        node = node or self._find(path)
        if isinstance(node, Folder):
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, "st_size": 4096,
                    "st_mtime": node.mtime, "st_ctime": node.mtime, "st_atime": node.mtime}
        return {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": len(node.data),
                "st_mtime": node.mtime, "st_ctime": node.mtime, "st_atime": node.mtime}

    def readdir(self, path: str, fh: int) -> list[str]:
        node = self._find(path)
        if not isinstance(node, Folder):
            raise FuseOSError(errno.ENOTDIR)
        return [".", "..", *node.entries]

    def opendir(self, path: str) -> int:
        return self._handle(self._find(path))

    def releasedir(self, path: str, fh: int) -> int:
        self.handles.pop(fh, None)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        parent, name = self._parent(path)
        if name in parent.entries:
            raise FuseOSError(errno.EEXIST)
        parent.entries[name] = Folder()
        return 0

    def rmdir(self, path: str) -> int:
        parent, name = self._parent(path)
        node = parent.entries.get(name)
        if not isinstance(node, Folder):
            raise FuseOSError(errno.ENOTDIR if node else errno.ENOENT)
        if node.entries:
            raise FuseOSError(errno.ENOTEMPTY)
        del parent.entries[name]
        return 0

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        parent, name = self._parent(path)
        node = parent.entries.get(name)
        if node is None:
            node = parent.entries[name] = File()
        return self._handle(node)

    def open(self, path: str, flags: int) -> int:
        node = self._find(path)
        if isinstance(node, File) and flags & 0o1000:  # O_TRUNC
            node.truncate(0)
        return self._handle(node)

    def release(self, path: str, fh: int) -> int:
        self.handles.pop(fh, None)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0  # close(2) is not fsync(2)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return bytes(self._file(path, fh).data[offset:offset + size])

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        self._file(path, fh).write(data, offset)
        return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        self._file(path, fh).truncate(length)
        return 0

    def fallocate(self, path: str, mode: int, offset: int, size: int, fh: int) -> int:
        node = self._file(path, fh)
        if mode == 0 and offset + size > len(node.data):
            node.truncate(offset + size)
        return 0

    def unlink(self, path: str) -> int:
        parent, name = self._parent(path)
        if name not in parent.entries:
            raise FuseOSError(errno.ENOENT)
        del parent.entries[name]
        return 0

    def rename(self, old: str, new: str) -> int:
        source, name = self._parent(old)
        target, new_name = self._parent(new)
        if name not in source.entries:
            raise FuseOSError(errno.ENOENT)
        target.entries[new_name] = source.entries.pop(name)
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        self._file(path, fh).sync()
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        node = self.handles.get(fh) or self._find(path)
        if isinstance(node, Folder):
            node.sync()
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        self._find(path).mtime = times[1] if times else time.time_ns()
        return 0

    def chmod(self, path: str, mode: int) -> int:
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        return 0

    def access(self, path: str, amode: int) -> int:
        self._find(path)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 20, "f_bfree": 1 << 19,
                "f_bavail": 1 << 19, "f_files": 1 << 16, "f_ffree": 1 << 15, "f_namemax": 255}

    def destroy(self, path: str) -> None:
        """Unmounted: the power goes; what was synced is all that is left."""
        self.image.write_bytes(pickle.dumps(durable(self.root)))


def main() -> None:
    image, mountpoint = Path(sys.argv[1]), sys.argv[2]
    # One thread: every call sees the tree as the calls before it left it.
    mfusepy.FUSE(LossyFS(image), mountpoint, foreground=True, nothreads=True,
                 attr_timeout=0, entry_timeout=0, negative_timeout=0)


if __name__ == "__main__":
    main()
