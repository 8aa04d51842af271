"""What every normalizer returns, and the steps they share.

Validation runs over the whole page at once (pydantic-core); a record that fails becomes a
reject with the reason and never stops the page. Timestamps are normalized in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from tributary.normalize.timestamps import to_epoch_ms
from tributary.sources.keys import Key, record_id


@dataclass
class Reject:
    index: int
    record_id: str | None
    reason: str
    record: Any


@dataclass
class Normalized:
    columns: dict[str, list[Any] | np.ndarray]
    rejects: list[Reject]


def validate(adapter: TypeAdapter[list[Any]], records: list[Any], key: Key = "id",
             originals: list[Any] | None = None) -> tuple[list[Any], list[int], list[Reject]]:
    """Valid rows (with their page index) and rejects naming the field and the problem.

    ``originals``: the records as the API sent them, when ``records`` were reshaped first
    (a reject keeps what was sent).
    """
    sent = records if originals is None else originals
    try:
        return adapter.validate_python(records), list(range(len(records))), []
    except ValidationError as exc:
        reasons: dict[int, list[str]] = {}
        for err in exc.errors():
            loc = err["loc"]
            if loc and isinstance(loc[0], int):
                field = ".".join(str(x) for x in loc[1:]) or "record"
                reasons.setdefault(loc[0], []).append(f"{field}: {err['msg']}")
    rejects = [Reject(i, record_id(records[i], key), "; ".join(r), sent[i])
               for i, r in reasons.items()]
    keep = [i for i in range(len(records)) if i not in reasons]
    return adapter.validate_python([records[i] for i in keep]), keep, rejects


def stamps(values: list[Any], label: str, keep: list[int], records: list[Any],
           rejects: list[Reject], key: Key = "id", nullable: bool = False
           ) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds and a mask of the readable ones; each unreadable one becomes a reject
    (``None`` is readable, as null, when ``nullable``)."""
    ms, ok = to_epoch_ms(values)
    if nullable:
        ok |= np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    earlier = {r.index: r for r in rejects}  # one reject per record, naming every problem
    for j in np.flatnonzero(~ok).tolist():
        i = keep[j]
        reason = f"{label}: unreadable timestamp (got {values[j]!r})"
        if i in earlier:
            earlier[i].reason += f"; {reason}"
        else:
            rejects.append(Reject(i, record_id(records[i], key), reason, records[i]))
    return ms, ok
