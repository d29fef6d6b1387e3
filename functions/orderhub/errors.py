"""The errors OrderHub raises, in one place.

OrderHubError
├── ConfigError          a required setting is missing or malformed; fix the environment
├── Unauthenticated      a request whose signature is missing or wrong; answer 401
├── BodyTooLarge         a request body without a length, or over the limit; answer 413
├── PoisonMessage        input we will never be able to process; quarantine it, do not retry
└── TransientError       a downstream service failed; raise so Pub/Sub (or the sender) retries

Event functions raise ``TransientError`` (or let the Google client's own exception
through) so that Pub/Sub redelivers with backoff, and *return* after quarantining a
``PoisonMessage``. HTTP functions map them to explicit status codes.
"""


class OrderHubError(Exception):
    """Base of every error OrderHub raises on purpose."""


class ConfigError(OrderHubError):
    """A required setting is missing or malformed. The message names the variable."""


class Unauthenticated(OrderHubError):
    """The request is not signed by a party we know (missing/wrong HMAC, unknown shop)."""


class BodyTooLarge(OrderHubError):
    """A request body that states no ``Content-Length`` or one over the limit: answer 413
    without reading it."""


class PoisonMessage(OrderHubError):
    """The input can never be processed as it is; keep it in quarantine with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(OrderHubError):
    """A downstream dependency failed in a way that a later retry may fix."""
