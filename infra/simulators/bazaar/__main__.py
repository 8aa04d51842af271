"""Run the bazaar simulator: ``python -m simulators.bazaar`` (TRIBUTARY_BAZAAR_*)."""

import uvicorn

from simulators.bazaar.app import Bazaar
from simulators.settings import BazaarSettings


def main() -> None:
    cfg = BazaarSettings()
    uvicorn.run(Bazaar(cfg).app(), host=cfg.bind_host, port=cfg.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
