"""The local copy of a live table in PostgreSQL, and its log of applied changes.

- ``<table>``: one row per upstream key, with ``_deleted`` (a tombstone: a late or repeated
  insert cannot bring a deleted row back), ``_version``, ``_seq`` (the last change's number),
  ``_observed_at`` (when upstream was seen in this state) and ``_content_hash``.
- ``<table>_changes``: every change applied, numbered by ``seq`` in commit order (one
  writer at a time, see ``fence``), so a subscriber asks for "everything after N" and "what
  changed since T" is a query.
- ``live_fence``: the epoch of the holder allowed to write, the flush position.

A change applies only if it changes something: an insert or delete seen again, or a mutate
to the body a row already has, writes nothing (holders hand over at an exact message, see
``holder``, so none is replayed out of order). A window read from upstream applies over rows
not seen changing since the read was sent (``_observed_at`` < the read's start): a change that
arrived while the window was being read still wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql

from tributary.live.changes import Change, Op
from tributary.load.tables import COLUMN_TYPES
from tributary.sources.live import ChangeStream


@dataclass(frozen=True, slots=True)
class Applied:
    seq: int
    op: Op
    key: Any
    time_s: int
    row: dict[str, Any]
    old: dict[str, Any] | None
    origin: str  # stream | repair

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "op": self.op, "id": self.key, "time": self.time_s,
                "row": self.row, "old": self.old, "origin": self.origin}


@dataclass(slots=True)
class _State:
    deleted: bool
    row: dict[str, Any] | None = None


class Fenced(RuntimeError):
    """A newer holder owns the stream: this one must stop writing."""


def _ts(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


class LocalCopy:
    def __init__(self, stream: ChangeStream, name: str) -> None:
        self.s = stream
        self.name = name  # "<source>/<stream>", the fence's key
        self.data = [c for c in stream.columns if c != stream.primary_key]
        self.t = sql.Identifier(stream.table)
        self.log = sql.Identifier(stream.changes_table)

    # -- schema ----------------------------------------------------------------------------------
    def ensure(self, conn: psycopg.Connection[Any]) -> None:
        """Create what is missing. The catalog is read first: DDL takes its locks even when
        there is nothing to do, and would deadlock with the holder writing."""
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL"
                             " AND EXISTS (SELECT 1 FROM pg_class WHERE relname = 'live_fence')",
                             (self.s.table, self.s.changes_table)).fetchone()
        if found and found[0] and conn.execute("SELECT 1 FROM live_fence WHERE stream = %s",
                                               (self.name,)).fetchone():
            conn.commit()
            return
        cols = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c),
                                    sql.SQL(COLUMN_TYPES[self.s.columns[c].type][0]))
            for c in self.data)
        key_type = sql.SQL(COLUMN_TYPES[self.s.columns[self.s.primary_key].type][0])
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('live-schema'))")
            conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {t} ({k} {kt} PRIMARY KEY, {cols}, "
                "_deleted boolean NOT NULL DEFAULT false, _version integer NOT NULL DEFAULT 1, "
                "_seq bigint, _observed_at timestamptz NOT NULL, "
                "_updated_at timestamptz NOT NULL DEFAULT now(), _content_hash bigint NOT NULL)"
            ).format(t=self.t, k=sql.Identifier(self.s.primary_key), kt=key_type, cols=cols))
            conn.execute(sql.SQL(
                "CREATE INDEX IF NOT EXISTS {i} ON {t} ({c}, {k})").format(
                i=sql.Identifier(f"{self.s.table}_by_time"), t=self.t,
                c=sql.Identifier(self.s.time_column), k=sql.Identifier(self.s.primary_key)))
            conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {log} (seq bigserial PRIMARY KEY, key {kt} NOT NULL,"
                " op text NOT NULL, origin text NOT NULL, time timestamptz NOT NULL, row jsonb,"
                " old jsonb, observed_at timestamptz NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT clock_timestamp(), message text)"
            ).format(log=self.log, kt=key_type))
            conn.execute("CREATE TABLE IF NOT EXISTS live_fence (stream text PRIMARY KEY, "
                         "epoch bigint NOT NULL DEFAULT 0, flushing_to bigint NOT NULL DEFAULT 0,"
                         " flushed bigint NOT NULL DEFAULT 0)")
            conn.execute("INSERT INTO live_fence (stream) VALUES (%s) ON CONFLICT DO NOTHING",
                         (self.name,))
        conn.commit()

    # -- the writer's fence ----------------------------------------------------------------------
    def fence(self, conn: psycopg.Connection[Any], epoch: int) -> None:
        """Inside a transaction: lock the stream for ``epoch`` (raising Fenced if a newer
        holder has written), so writers take turns and ``seq`` follows commit order."""
        row = conn.execute("UPDATE live_fence SET epoch = %s WHERE stream = %s AND epoch <= %s "
                           "RETURNING epoch", (epoch, self.name, epoch)).fetchone()
        if row is None:
            raise Fenced(f"{self.name}: a holder newer than epoch {epoch} writes now")

    # -- applying changes ------------------------------------------------------------------------
    def _states(self, conn: psycopg.Connection[Any], keys: list[Any]) -> dict[Any, _State]:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in self.data)
        rows = conn.execute(sql.SQL(
            "SELECT {k}, _deleted, {cols} FROM {t} "
            "WHERE {k} = ANY(%s) FOR UPDATE").format(
            k=sql.Identifier(self.s.primary_key), cols=cols, t=self.t), (keys,)).fetchall()
        return {r[0]: _State(r[1], self._row(r[0], r[2:])) for r in rows}

    def _row(self, key: Any, values: tuple[Any, ...]) -> dict[str, Any]:
        row = {self.s.primary_key: key}
        for c, v in zip(self.data, values, strict=True):
            row[c] = int(v.timestamp()) if c == self.s.time_column else v
        return row

    def apply_changes(self, conn: psycopg.Connection[Any], epoch: int,
                      changes: list[Change]) -> list[Applied]:
        """Apply stream changes in order, in one transaction; returns those that changed
        something, numbered."""
        with conn.transaction():
            self.fence(conn, epoch)
            states = self._states(conn, list({c.key for c in changes}))
            effects: list[tuple[Change, dict[str, Any] | None]] = []
            for c in changes:
                st = states.get(c.key)
                if st is not None and (st.deleted or (c.op != "delete" and st.row == c.row)):
                    continue  # a tombstone wins; a repeat changes nothing
                old = st.row if st is not None else c.old
                states[c.key] = _State(c.op == "delete", c.row)
                effects.append((c, old))
            return self._write(conn, [(c.op, c.row, old, c.received_at, c.raw, "stream")
                                      for c, old in effects])

    def _write(self, conn: psycopg.Connection[Any],
               effects: list[tuple[Op, dict[str, Any], dict[str, Any] | None, float, str | None,
                                   str]], logged: bool = True) -> list[Applied]:
        """Upsert the rows and log the changes, numbered in order (``logged=False``: a first
        copy, which is not a change anyone follows)."""
        if not effects:
            return []
        seqs = [r[0] for r in conn.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'seq')) FROM generate_series(1, %s)",
            (self.s.changes_table, len(effects))).fetchall()] if logged else \
            [None] * len(effects)
        rows, log, out = {}, [], []
        for seq, (op, row, old, observed, message, origin) in zip(seqs, effects, strict=True):
            key, time_s = row[self.s.primary_key], int(row[self.s.time_column])
            rows[key] = (key, *self._values(row), op == "delete", seq, _ts(observed))
            log.append((seq, key, op, origin, _ts(time_s), orjson.dumps(row).decode(),
                        orjson.dumps(old).decode() if old is not None else None, _ts(observed),
                        message))
            out.append(Applied(seq or 0, op, key, time_s, row, old, origin))
        self._upsert(conn, list(rows.values()))
        if not logged:
            return []
        with conn.cursor().copy(sql.SQL(
                "COPY {log} (seq, key, op, origin, time, row, old, observed_at, message) "
                "FROM STDIN").format(log=self.log)) as cp:
            for entry in log:
                cp.write_row(entry)
        return out

    def _values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_ts(row[c]) if c == self.s.time_column else row.get(c) for c in self.data)

    def _columns(self) -> list[str]:
        return [self.s.primary_key, *self.data, "_deleted", "_seq", "_observed_at"]

    def _upsert(self, conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
        cols = self._columns()
        names = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        stage = sql.Identifier(f"_stage_{self.s.table}")
        conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {s} AS SELECT {n} FROM {t} "
                             "WITH NO DATA").format(s=stage, n=names, t=self.t))
        with conn.cursor().copy(sql.SQL("COPY {s} ({n}) FROM STDIN").format(
                s=stage, n=names)) as cp:
            for r in rows:
                cp.write_row(r)
        sets = sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
                                  for c in cols[1:])
        conn.execute(sql.SQL(
            "INSERT INTO {t} ({n}, _content_hash) SELECT {n}, {h} FROM {s} s "
            "ON CONFLICT ({k}) DO UPDATE SET {sets}, _content_hash = EXCLUDED._content_hash, "
            "_version = {t}._version + 1, _updated_at = now()").format(
            t=self.t, n=names, s=stage, k=sql.Identifier(self.s.primary_key), sets=sets,
            h=self._hash("s", False)))
        conn.execute(sql.SQL("TRUNCATE {s}").format(s=stage))

    # -- applying a window read from upstream ----------------------------------------------------
    def _sqlrow(self, alias: str, staged: bool) -> sql.Composable:
        """A row as JSON (the time column as epoch seconds), from the table or the stage."""
        parts: list[sql.Composable] = []
        for c in self.s.columns:
            col = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c))
            if c == self.s.time_column and not staged:
                col = sql.SQL("extract(epoch FROM {})::bigint").format(col)
            parts += [sql.Literal(c), col]
        return sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(parts))

    def _hash(self, alias: str, staged: bool) -> sql.Composable:
        """The content hash (every column but the key), the same for both sides."""
        parts: list[sql.Composable] = []
        for c in self.data:
            col = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c))
            if c == self.s.time_column and not staged:
                col = sql.SQL("extract(epoch FROM {})::bigint").format(col)
            parts.append(col)
        return sql.SQL("hashtextextended(ROW({})::text, 0)").format(sql.SQL(", ").join(parts))

    def _stage(self, conn: psycopg.Connection[Any], csv: bytes) -> sql.Identifier:
        win = sql.Identifier(f"_win_{self.s.table}")
        cols = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(
                "bigint" if c == self.s.time_column else COLUMN_TYPES[self.s.columns[c].type][0]))
            for c in self.s.columns)
        conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({})").format(win, cols))
        conn.execute(sql.SQL("TRUNCATE {}").format(win))
        names = sql.SQL(", ").join(sql.Identifier(c) for c in self.s.columns)
        with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                win, names)) as cp:
            cp.write(csv)
        conn.execute(sql.SQL("ANALYZE {}").format(win))  # a temp table has no statistics
        return win

    def apply_window(self, conn: psycopg.Connection[Any], epoch: int, start: int, stop: int,
                     csv: bytes, read_at: float, origin: str) -> tuple[list[Applied], int]:
        """Make the copy of ``[start, stop)`` what upstream answered at ``read_at`` (its rows
        as CSV), except rows seen changing since. Compared and written in PostgreSQL.
        Returns the changes (none for a first copy: nobody follows those) and how many rows
        were written."""
        k, t, tc = (sql.Identifier(self.s.primary_key), self.t,
                    sql.Identifier(self.s.time_column))
        eff = sql.Identifier(f"_eff_{self.s.table}")
        with conn.transaction():
            self.fence(conn, epoch)
            win = self._stage(conn, csv)
            conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {} AS key, "
                                 "''::text AS op, 0::bigint AS seq, true AS fresh FROM {} "
                                 "WITH NO DATA").format(eff, k, t))
            conn.execute(sql.SQL("TRUNCATE {}").format(eff))
            args = {"read": _ts(read_at), "start": _clamp(start), "stop": _clamp(stop),
                    "origin": origin, "logged": origin != "copy"}
            conn.execute(sql.SQL(
                "INSERT INTO {eff} (key, op, seq, fresh) "
                "SELECT s.{k}, CASE WHEN t.{k} IS NULL OR t._deleted THEN 'insert' "
                "ELSE 'mutate' END, CASE WHEN %(logged)s THEN nextval("
                "pg_get_serial_sequence({logname}, 'seq')) END, t.{k} IS NULL "
                "FROM {win} s LEFT JOIN {t} t ON t.{k} = s.{k} WHERE t.{k} IS NULL OR ("
                "t._observed_at < %(read)s AND (t._deleted OR t._content_hash <> {sh})) "
                "UNION ALL SELECT t.{k}, 'delete', CASE WHEN %(logged)s THEN nextval("
                "pg_get_serial_sequence({logname}, 'seq')) END, false FROM {t} t "
                "WHERE t.{tc} >= %(start)s AND t.{tc} < %(stop)s AND NOT t._deleted "
                "AND t._observed_at < %(read)s AND NOT EXISTS "
                "(SELECT 1 FROM {win} s WHERE s.{k} = t.{k})").format(
                eff=eff, k=k, win=win, t=t, tc=tc, sh=self._hash("s", True),
                logname=sql.Literal(self.s.changes_table)), args)
            applied = self._log_window(conn, eff, win, args) if args["logged"] else []
            written = self._write_window(conn, eff, win, args)
            return applied, written

    def _log_window(self, conn: psycopg.Connection[Any], eff: sql.Identifier,
                    win: sql.Identifier, args: dict[str, Any]) -> list[Applied]:
        k, tc = sql.Identifier(self.s.primary_key), sql.Identifier(self.s.time_column)
        rows = conn.execute(sql.SQL(
            "INSERT INTO {log} (seq, key, op, origin, time, row, old, observed_at) "
            "SELECT e.seq, e.key, e.op, %(origin)s, coalesce(to_timestamp(s.{tc}), t.{tc}), "
            "CASE WHEN s.{k} IS NULL THEN {trow} ELSE {srow} END, "
            "CASE WHEN e.op = 'mutate' THEN {trow} END, %(read)s "
            "FROM {eff} e LEFT JOIN {win} s ON s.{k} = e.key LEFT JOIN {t} t ON t.{k} = e.key "
            "ORDER BY e.seq RETURNING seq, op, key, time, row, old").format(
            log=self.log, tc=tc, k=k, trow=self._sqlrow("t", False),
            srow=self._sqlrow("s", True), eff=eff, win=win, t=self.t), args).fetchall()
        return sorted((Applied(r[0], r[1], r[2], int(r[3].timestamp()), r[4], r[5],
                               args["origin"]) for r in rows), key=lambda a: a.seq)

    def _write_window(self, conn: psycopg.Connection[Any], eff: sql.Identifier,
                      win: sql.Identifier, args: dict[str, Any]) -> int:
        """New rows by a plain INSERT (most of a first copy), others by UPDATE."""
        k = sql.Identifier(self.s.primary_key)
        values = [sql.SQL("to_timestamp(s.{})" if c == self.s.time_column else "s.{}").format(
            sql.Identifier(c)) for c in self.s.columns]
        parts = dict(t=self.t, eff=eff, win=win, k=k, sh=self._hash("s", True),
                     cols=sql.SQL(", ").join(sql.Identifier(c) for c in self.s.columns),
                     values=sql.SQL(", ").join(values),
                     sets=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), v)
                                             for c, v in zip(self.s.columns, values,
                                                             strict=True) if c in self.data))
        new = conn.execute(sql.SQL(
            "INSERT INTO {t} ({cols}, _deleted, _seq, _observed_at, _content_hash) "
            "SELECT {values}, false, e.seq, %(read)s, {sh} FROM {eff} e "
            "JOIN {win} s ON s.{k} = e.key WHERE e.fresh").format(**parts), args).rowcount
        changed = conn.execute(sql.SQL(
            "UPDATE {t} t SET {sets}, _deleted = false, _seq = e.seq, _observed_at = %(read)s, "
            "_content_hash = {sh}, _version = t._version + 1, _updated_at = now() "
            "FROM {eff} e JOIN {win} s ON s.{k} = e.key "
            "WHERE NOT e.fresh AND e.op <> 'delete' AND t.{k} = e.key").format(**parts),
            args).rowcount
        gone = conn.execute(sql.SQL(
            "UPDATE {t} t SET _deleted = true, _seq = e.seq, _observed_at = %(read)s, "
            "_version = t._version + 1, _updated_at = now() FROM {eff} e "
            "WHERE e.op = 'delete' AND t.{k} = e.key").format(**parts), args).rowcount
        return int(new) + int(changed) + int(gone)

    # -- reading the log ---------------------------------------------------------------------------
    def last_seq(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(sql.SQL("SELECT coalesce(max(seq), 0) FROM {log}").format(
            log=self.log)).fetchone()
        return int(row[0]) if row else 0

    def changes_after(self, conn: psycopg.Connection[Any], after: int, start: int, stop: int,
                      limit: int, upto: int | None = None) -> list[Applied] | None:
        """Changes numbered after ``after`` (up to ``upto``) to rows in ``[start, stop)``,
        oldest first; None when there are more than ``limit`` (the subscriber reloads)."""
        rows = conn.execute(sql.SQL(
            "SELECT seq, op, key, time, row, old, origin FROM {log} WHERE seq > %s "
            "AND seq <= %s AND time >= %s AND time < %s ORDER BY seq LIMIT %s").format(
            log=self.log), (after, 2**62 if upto is None else upto, _clamp(start),
                            _clamp(stop), limit + 1)).fetchall()
        if len(rows) > limit:
            return None
        return [Applied(r[0], r[1], r[2], int(r[3].timestamp()), r[4], r[5], r[6]) for r in rows]

    # -- reading the copy (the viewer's API) -----------------------------------------------------
    def _out(self) -> sql.Composable:
        """The columns as upstream shapes them (the time as epoch seconds)."""
        return sql.SQL(", ").join(
            sql.SQL("extract(epoch FROM {c})::bigint AS {c}" if c == self.s.time_column
                    else "{c}").format(c=sql.Identifier(c)) for c in self.s.columns)

    def _text_filter(self, q: str | None) -> tuple[sql.Composable, list[Any]]:
        texts = [c for c in self.data if self.s.columns[c].type == "text"]
        if not q or not texts:
            return sql.SQL(""), []
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return sql.SQL(" AND ({})").format(sql.SQL(" OR ").join(
            sql.SQL("{} ILIKE %s").format(sql.Identifier(c)) for c in texts)), [like] * len(texts)

    def rows_near(self, conn: psycopg.Connection[Any], t: int, key: Any, forward: bool,
                  limit: int, q: str | None) -> tuple[int, list[dict[str, Any]]]:
        """As of one change number: up to ``limit`` live rows after ``(t, key)`` in time order
        (``forward``) or before it, by keyset on the time index; returned oldest first."""
        where, params = self._text_filter(q)
        tc, k = sql.Identifier(self.s.time_column), sql.Identifier(self.s.primary_key)
        # ORDER BY names the table's columns: the output's time column (epoch seconds) has
        # the same name, and ordering by it would sort the whole range instead of walking
        # the index.
        query = sql.SQL(
            "SELECT {out} FROM {t} WHERE NOT _deleted AND ({tc}, {k}) {op} (to_timestamp(%s), %s)"
            "{where} ORDER BY {t}.{tc} {d}, {t}.{k} {d} LIMIT %s").format(
            out=self._out(), t=self.t, tc=tc, k=k, op=sql.SQL(">" if forward else "<"),
            where=where, d=sql.SQL("ASC" if forward else "DESC"))
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            seq = self.last_seq(conn)
            cur = conn.execute(query, [_clamp(t).timestamp(), key, *params, limit])
            names = [d.name for d in cur.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return seq, rows if forward else rows[::-1]

    def histogram(self, conn: psycopg.Connection[Any], buckets: int, q: str | None
                  ) -> dict[str, Any]:
        """Live rows per time bucket over the whole range, as of one change number."""
        where, params = self._text_filter(q)
        tc = sql.Identifier(self.s.time_column)
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            seq = self.last_seq(conn)
            bounds = conn.execute(sql.SQL(
                "SELECT extract(epoch FROM min({tc}))::bigint, extract(epoch FROM max({tc}))"
                "::bigint FROM {t} WHERE NOT _deleted").format(tc=tc, t=self.t)).fetchone()
            if bounds is None or bounds[0] is None:
                return {"seq": seq, "start": None, "stop": None, "bucket_s": 0, "counts": []}
            lo, hi = int(bounds[0]), int(bounds[1])
            width = max(1, -(-(hi + 1 - lo) // buckets))
            found = dict(conn.execute(sql.SQL(
                "SELECT ((extract(epoch FROM {tc})::bigint - %s) / %s)::int, count(*) FROM {t} "
                "WHERE NOT _deleted{where} GROUP BY 1").format(tc=tc, t=self.t, where=where),
                [lo, width, *params]).fetchall())
        n = -(-(hi + 1 - lo) // width)
        return {"seq": seq, "start": lo, "stop": lo + n * width, "bucket_s": width,
                "counts": [int(found.get(i, 0)) for i in range(n)]}


def _clamp(epoch_s: int) -> datetime:
    """Open-ended windows use huge bounds; a datetime holds years 1 to 9999."""
    return _ts(max(-62_000_000_000, min(epoch_s, 253_000_000_000)))
