"""Named crash points for failure tests: `crash_point("charge.after_stripe_confirm")` kills the
process with SIGKILL when that name is in the service's FAULT_POINTS setting, so that tests can
prove nothing is lost or doubled when a process dies at the worst moment. Off by default;
refused in production by the settings."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Collection

log = logging.getLogger(__name__)


class FaultPoints:
    def __init__(self, enabled: Collection[str]) -> None:
        self._enabled = frozenset(enabled)

    def crash_point(self, name: str) -> None:
        if name in self._enabled:
            log.critical("fault point %s reached: killing the process", name)
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)


NO_FAULTS = FaultPoints(())
