"""Run the DataSync simulator: ``python -m simulators.datasync``."""

import uvicorn

from simulators.datasync.app import Api
from simulators.settings import DatasyncServerSettings

if __name__ == "__main__":
    cfg = DatasyncServerSettings()
    uvicorn.run(Api(cfg).app(), host=cfg.bind_host, port=cfg.port, log_level="warning",
                access_log=False)
