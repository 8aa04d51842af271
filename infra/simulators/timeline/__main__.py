"""Run the timeline simulator: ``python -m simulators.timeline`` (TRIBUTARY_TIMELINE_*)."""

import uvicorn

from simulators.settings import TimelineSettings
from simulators.timeline.app import Timeline


def main() -> None:
    cfg = TimelineSettings()
    uvicorn.run(Timeline(cfg).app(), host=cfg.bind_host, port=cfg.port, log_level="warning",
                access_log=False, ws_ping_interval=5, ws_ping_timeout=10)


if __name__ == "__main__":
    main()
