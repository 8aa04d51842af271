"""Run the DataSync simulator: ``python -m simulators.datasync``."""

import uvicorn

from simulators.datasync.app import Api
from tributary.settings import get_datasync_settings

if __name__ == "__main__":
    cfg = get_datasync_settings()
    uvicorn.run(Api(cfg).app(), host=cfg.bind_host, port=cfg.port, log_level="warning",
                access_log=False)
