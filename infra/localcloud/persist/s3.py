"""S3 kept on disk: after each successful write the object's state in moto is copied to the
store, and made durable, before the client is answered; at start the objects come back
without being read (each is served from its file when asked for).

Requests are path-style (``/<bucket>/<key>``), as the SDKs send them to a local endpoint.
"""

from __future__ import annotations

import datetime
import ipaddress
import xml.etree.ElementTree as ET
from threading import Lock
from typing import Any
from urllib.parse import unquote

from localcloud.persist.commit import Ticket
from localcloud.persist.store import StateStore

ACCOUNT = "123456789012"
_PATH_STYLE_HOSTS = {"localhost", "localhost.localstack.cloud"}


def _backend() -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[ACCOUNT]["aws"]


class FileValue:
    """A key's bytes, read from its file each time moto reads them: restoring thousands of
    objects opens none, and keeps no copy in memory."""

    def __init__(self, path: Any) -> None:
        self.path = path

    def seek(self, *_: Any) -> int:
        return 0

    def read(self, *_: Any) -> bytes:
        with open(self.path, "rb") as f:
            data: bytes = f.read()
        return data

    def close(self) -> None:
        pass


def restore(store: StateStore) -> int:
    """Buckets and objects back into moto; returns how many objects."""
    from moto.s3.models import FakeKey
    from moto.utilities.utils import LowercaseDict

    backend = _backend()
    for name, region in store.buckets():
        if name not in backend.buckets:
            backend.create_bucket(name, region)
    restored = 0
    for o in store.objects():
        key = FakeKey(o.key, b"", ACCOUNT, "us-east-1", etag=o.etag, bucket_name=o.bucket)
        key._value_buffer = FileValue(o.path)  # type: ignore[assignment]
        key.contentsize = o.size
        key.last_modified = datetime.datetime.fromtimestamp(o.last_modified, datetime.UTC) \
            .replace(tzinfo=None)
        key._metadata = LowercaseDict(o.metadata)
        backend.buckets[o.bucket].keys[o.key] = key
        restored += 1
    return restored


def _current(bucket: str, key: str) -> Any:
    found = _backend().buckets.get(bucket)
    return found.keys.get(key) if found is not None else None


def _save(store: StateStore, lock: Lock, bucket: str, key: str) -> Ticket | None:
    """Keep what moto now holds at ``bucket``/``key``. The bytes are written and fsynced
    outside ``lock`` (concurrent writes sync in parallel); under it, the row is handed to the
    group commit only if moto still holds that version, so a slower write never overtakes a
    newer one on disk."""
    fake = _current(bucket, key)
    if fake is None:
        with lock:
            return store.delete_object(bucket, key) if _current(bucket, key) is None else None
    if isinstance(fake._value_buffer, FileValue):
        return None  # restored and untouched: its file is already what it holds
    value = fake.value
    path = store.write_object(bucket, key, value)
    modified = fake.last_modified.replace(tzinfo=datetime.UTC).timestamp()
    with lock:
        if _current(bucket, key) is fake:
            return store.put_object(bucket, key, path, len(value), fake.etag.strip('"'),
                                    modified, dict(fake.metadata))
    store.discard(path)
    return None


def _deleted_keys(body: bytes) -> list[str]:
    """The keys of a multi-object delete request (``POST /<bucket>?delete``)."""
    root = ET.fromstring(body)
    return [el.text or "" for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Key"]


def bucket_and_key(host: str, raw_path: str) -> tuple[str, str]:
    """Path-style (``/<bucket>/<key>`` on an IP, ``localhost`` or an ``s3.`` host) or
    virtual-hosted (``<bucket>.<host>/<key>``)."""
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    path = unquote(raw_path.split("?", 1)[0]).lstrip("/")
    try:
        ipaddress.ip_address(hostname.strip("[]"))
        virtual = False
    except ValueError:
        virtual = "." in hostname and hostname not in _PATH_STYLE_HOSTS and \
            not hostname.startswith("s3.")
    if virtual:
        return hostname.split(".", 1)[0], path
    bucket, _, key = path.partition("/")
    return bucket, key


def after_write(store: StateStore, lock: Lock, method: str, host: str, raw_path: str,
                query: str, body: bytes) -> list[Ticket]:
    """Mirror what a successful S3 write changed; the tickets to wait for before answering."""
    return [t for t in _mirror(store, lock, method, host, raw_path, query, body) if t]


def _mirror(store: StateStore, lock: Lock, method: str, host: str, raw_path: str,
            query: str, body: bytes) -> list[Ticket | None]:
    bucket, key = bucket_and_key(host, raw_path)
    if not bucket:
        return []
    if not key:
        if method == "PUT" and not query:
            with lock:
                return [store.put_bucket(bucket, "us-east-1")]
        if method == "DELETE" and not query:
            with lock:
                return [store.delete_bucket(bucket)]
        if method == "POST" and "delete" in query.split("&"):
            return [_save(store, lock, bucket, k) for k in _deleted_keys(body)]
        return []
    params = query.split("&")
    if any(p.startswith("uploadId=") for p in params):
        # a multipart upload completed (POST); its parts are not objects
        return [_save(store, lock, bucket, key)] if method == "POST" else []
    return [] if "uploads" in params else [_save(store, lock, bucket, key)]
