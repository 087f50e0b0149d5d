"""HTTP client of ``selfif serve-rm`` with the same ``score(items)`` interface as ``ConstraintRM``.

A GRPO run must not die because the RM server restarted for a moment: connection errors,
timeouts and 5xx answers are retried with exponential backoff (``backoff * 2**attempt``
seconds, capped). 4xx answers are the caller's mistake and raise at once with the server's
reason. Large item lists are split into requests of at most the server's ``max_items``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import httpx

from selfif.io import Closing
from selfif.reward.model import Item, normalize_items

log = logging.getLogger(__name__)


class RMClientError(RuntimeError):
    """The RM server rejected a request or stayed unreachable after all retries."""


class RMClient(Closing):
    """``RMClient("http://127.0.0.1:8008").score([(response, constraint), ...]) -> [p, ...]``."""

    def __init__(
        self,
        url: str,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        max_items: int | None = None,
    ):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._max_items = max_items
        self._client = httpx.Client(timeout=timeout)

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                r = self._client.request(method, self.url + path, **kwargs)
            except httpx.TransportError as e:  # connection refused/reset, timeouts
                last = e
            else:
                if r.status_code < 500:
                    if r.status_code >= 400:
                        try:
                            detail = r.json().get("detail")
                        except ValueError:
                            detail = r.text
                        raise RMClientError(f"{method} {path}: HTTP {r.status_code}: {detail}")
                    return r
                last = RMClientError(f"{method} {path}: HTTP {r.status_code}: {r.text[:200]}")
            if attempt < self.retries:
                delay = min(self.max_backoff, self.backoff * 2**attempt)
                log.warning("RM server %s: %s; retry %d/%d in %.2fs", self.url, last, attempt + 1, self.retries, delay)
                time.sleep(delay)
        raise RMClientError(f"RM server {self.url} failed after {self.retries + 1} attempts: {last}")

    def health(self) -> dict:
        return self._request("GET", "/health").json()

    @property
    def max_items(self) -> int:
        if self._max_items is None:
            self._max_items = int(self.health().get("max_items", 256))
        return self._max_items

    def score(self, items: Sequence[Item]) -> list[float]:
        """P(satisfies) per item, in order (split into several requests if needed)."""
        triples = normalize_items(items)
        if not triples:
            return []
        out: list[float] = []
        step = max(1, self.max_items)
        for s in range(0, len(triples), step):
            chunk = triples[s : s + step]
            payload = {"items": [{"response": r, "constraint": c, "instruction": i} for r, c, i in chunk]}
            out.extend(float(x) for x in self._request("POST", "/score", json=payload).json()["scores"])
        return out

    def close(self) -> None:
        self._client.close()
