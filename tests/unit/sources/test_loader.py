"""A warm process sees a declaration added, changed, broken or removed once its last look at
the folder is ``RECHECK_S`` old, and everything derived from the declarations is renewed with
them; an unknown name is called unknown."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tributary.load.tables import table_for
from tributary.settings import get_settings
from tributary.sources import loader
from tributary.sources.loader import DeclarationError


def _yaml(name: str, *columns: str) -> str:
    cols = ", ".join(f"{c}: {{}}" for c in ("id", *columns))
    return (f"name: {name}\nbase_url: http://127.0.0.1:9\nstreams:\n  - {{name: items, "
            f"endpoint: /items, records_path: items, primary_key: id, "
            f"pagination: {{style: single}}, table: {name}_items, columns: {{{cols}}}}}\n")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TRIBUTARY_SOURCES_DIR", str(tmp_path))
    monkeypatch.setattr(loader, "RECHECK_S", 0.0)  # look every time; one test sets it back
    get_settings.cache_clear()
    (tmp_path / "shop.yaml").write_text(_yaml("shop", "title"))
    yield tmp_path
    monkeypatch.undo()
    get_settings.cache_clear()


def test_an_added_file_is_a_new_source(folder: Path) -> None:
    assert set(loader.sources()) == {"shop"}
    with pytest.raises(DeclarationError, match=r"^unknown source 'books'; declared: \['shop'\]"):
        loader.source("books")
    (folder / "books.yaml").write_text(_yaml("books"))
    assert set(loader.sources()) == {"books", "shop"}
    assert table_for("books", "items").name == "books_items"


def test_a_changed_file_renews_what_was_derived_from_it(folder: Path) -> None:
    before = table_for("shop", "items")
    generation = loader.generation()
    assert table_for("shop", "items") is before  # kept while nothing changes
    (folder / "shop.yaml").write_text(_yaml("shop", "title", "price"))
    after = table_for("shop", "items")
    assert [c.name for c in after.columns] == ["id", "title", "price"]
    assert loader.generation() == generation + 1
    assert after.normalize is not before.normalize


def test_a_file_replaced_with_the_same_size_and_time_is_seen(folder: Path) -> None:
    path = folder / "shop.yaml"
    stat = path.stat()
    loader.sources()
    fresh = folder / "new.tmp"
    fresh.write_text(_yaml("shop", "texts"))  # as long as "title" and its newline
    os.utime(fresh, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    fresh.replace(path)  # how editors save: a new inode
    assert list(loader.source("shop").stream("items").columns) == ["id", "texts"]


def test_a_broken_file_fails_every_use_until_it_is_fixed(folder: Path) -> None:
    (folder / "shop.yaml").write_text("name: shop\nstreams: 3\n")
    for _ in range(2):
        with pytest.raises(DeclarationError, match="shop.yaml"):
            loader.sources()
    (folder / "shop.yaml").write_text(_yaml("shop"))
    assert set(loader.sources()) == {"shop"}


def test_a_removed_file_is_no_longer_a_source(folder: Path) -> None:
    (folder / "books.yaml").write_text(_yaml("books"))
    assert set(loader.sources()) == {"books", "shop"}
    (folder / "books.yaml").unlink()
    with pytest.raises(DeclarationError, match="unknown source 'books'"):
        loader.source("books")


def test_the_folder_is_looked_at_most_once_per_recheck(folder: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "RECHECK_S", 0.3)
    assert set(loader.sources()) == {"shop"}
    (folder / "books.yaml").write_text(_yaml("books"))
    assert set(loader.sources()) == {"shop"}  # within RECHECK_S of the last look
    time.sleep(0.3)
    assert set(loader.sources()) == {"books", "shop"}
