"""Feature-flag steps behind one provider interface: ``models`` (params and results), ``providers/`` (one
module per provider: Unleash, LaunchDarkly), ``steps`` (``flags.status``, ``flags.disable``)."""

from tasks.flags import steps
from tasks.flags.models import FlagChange, FlagParams, FlagState

__all__ = ["FlagChange", "FlagParams", "FlagState", "steps"]
