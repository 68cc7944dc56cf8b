"""What both sides of goldenpath's wire share: errors, rules and (in `models`) the typed
requests and responses of the promotion server's API. It imports neither the SDK nor the
server, so each can use it without the other installed."""

from goldenpath_api import rules
from goldenpath_api.errors import GoldenpathError, from_response

__version__ = "0.1.0"  # the goldenpath distribution's (pyproject.toml)

__all__ = ["__version__", "GoldenpathError", "from_response", "rules"]
