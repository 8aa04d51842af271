"""Run the snapshots simulator: ``python -m simulators.snapshots`` (TRIBUTARY_SNAPSHOTS_*)."""

import uvicorn

from simulators.settings import SnapshotsSettings
from simulators.snapshots.app import Snapshots


def main() -> None:
    cfg = SnapshotsSettings()
    uvicorn.run(Snapshots(cfg).app(), host=cfg.bind_host, port=cfg.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
