"""A door controller on the network that takes HTTP POST requests.

Each command is one ``POST`` of a small JSON body to the configured URL::

    {"command": "open", "door": "Main entrance", "unlock_ms": 3000}
    {"command": "close", "door": "Main entrance"}

Any 2xx answer is success; anything else (another status, no answer within the timeout,
refused connection) is a :class:`DoorError`. An optional token is sent as
``Authorization: Bearer <token>`` and never logged.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from turnstile.door.base import DoorError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.0
"""A controller that has not answered in this time is treated as failed."""


class HttpDoor:
    """POSTs open/close commands to a door controller.

    Args:
        url: ``http://`` or ``https://`` URL of the controller.
        door_name: sent in each request (one controller may serve several doors).
        unlock_ms: sent with "open" (controllers that relock by themselves use it).
        token: optional bearer token.
        timeout_s: per request.

    Raises:
        DoorError: the URL is not an http(s) URL.
    """

    def __init__(self, url: str, *, door_name: str = "", unlock_ms: int | None = None,
                 token: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DoorError(f"The door controller address {url!r} is not an http:// or "
                            f"https:// URL.")
        self.url = url.strip()
        self.door_name = door_name
        self.unlock_ms = unlock_ms
        self.timeout_s = timeout_s
        self._token = token
        # Never show credentials that may be embedded in the URL.
        self.description = f"HTTP door controller at {parts.hostname}" + (
            f":{parts.port}" if parts.port else "")

    def open(self) -> None:
        body: dict[str, object] = {"command": "open", "door": self.door_name}
        if self.unlock_ms is not None:
            body["unlock_ms"] = self.unlock_ms
        self._post(body)

    def close(self) -> None:
        self._post({"command": "close", "door": self.door_name})

    def release(self) -> None:
        """Nothing is held between requests."""

    def _post(self, body: dict[str, object]) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "turnstile-door"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"),
                                         headers=headers, method="POST")
        command = body["command"]
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status = response.status
                response.read(4096)
        except urllib.error.HTTPError as exc:
            raise DoorError(f"The {self.description} refused the {command} command "
                            f"(HTTP {exc.code}).") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DoorError(f"The {self.description} did not answer the {command} command "
                            f"({reason}).") from None
        if not 200 <= status < 300:
            raise DoorError(f"The {self.description} answered the {command} command with "
                            f"HTTP {status}.")
