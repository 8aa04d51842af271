"""Reading a generated stream's records back as rows, the way its declaration says.

Used by the generator's own tests, which fetch a generated API with tributary's paginators
(no stack) to show the server, the declaration and the truth agree before the pipeline is
asked to.
"""

from __future__ import annotations

from typing import Any

from tests.generative.api import Row, StreamPlan, key_text
from tributary.normalize.epoch import one_epoch_ms
from tributary.sources.paths import dig


def row_of(s: StreamPlan, record: dict[str, Any]) -> tuple[str, Row]:
    key = tuple(dig(record, k.wire) if k.wire else record["parent_id"] for k in s.key_cols)
    at = one_epoch_ms(dig(record, s.at_field))
    assert at is not None, record
    return key_text(key), Row(key, str(dig(record, s.name_path)),
                              int(dig(record, s.amount_field)), at)
