"""The ``context`` object handlers receive, with a real remaining-time clock."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: str  # a string on Lambda too (its runtime reads the environment)
    invoked_function_arn: str
    aws_request_id: str
    deadline_epoch: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline_epoch - time.time()) * 1000))
