"""``python -m localcloud.athena``: the Athena service of the embedded cloud."""

from __future__ import annotations

import uvicorn

from localcloud.athena.server import app
from localcloud.athena.service import Athena
from localcloud.config import emulator_client
from tributary.settings import get_settings


def main() -> None:
    settings = get_settings()
    athena = Athena(settings, settings.home_dir / "athena",
                    lambda service: emulator_client(service, settings))
    uvicorn.run(app(athena.operations), host=settings.host, port=settings.athena_port,
                log_level="warning")


if __name__ == "__main__":
    main()
