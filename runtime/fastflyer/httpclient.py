"""``Client`` / ``AsyncClient``: httpx clients with retries, a redacted log line per call and the
inbound request id forwarded.

Retry rule (tenacity): a call is attempted at most ``stop_max_attempt_number`` times, and no
new attempt starts when it would end after ``stop_max_delay`` seconds. Waits grow as
``wait_exponential_multiplier * 2 ** (n - 1)`` seconds, capped at ``wait_exponential_max``
(a ``Retry-After`` of 429/503 answers is honoured up to that cap). Retried: connection failures
(refused, connect timeout: the request never left) for every method; read/write timeouts,
dropped connections and 429/502/503/504 answers only for idempotent methods (``retry_methods``,
default GET HEAD OPTIONS PUT DELETE TRACE), so a POST is never sent twice unless asked.

Outcome rule: an answer from the server is always returned (after retries, the last one). When
no answer came, a :class:`ThirdPartyError` is raised whose ``code`` is one of the seed's 60x
codes: 604 timeout, 605 network failure. :func:`check_response` (or ``raise_for_status=True``)
turns a bad answer into 606 (a retryable status that was still bad after retries) or 601 (any
other 4xx/5xx).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import httpx
import tenacity

from fastflyer import status
from fastflyer.observability.context import REQUEST_ID_HEADER, current_request_id
from fastflyer.observability.logs import logger
from fastflyer.observability.metrics import record_outbound

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Query parameters whose names contain one of these never reach a log line.
SECRET_WORDS = ("token", "secret", "passw", "pwd", "key", "auth", "sig", "session", "credential",
                "ticket", "code")
RETRY_EXTENSION = "fastflyer.retry"


def redact_url(url: httpx.URL | str) -> str:
    """The URL without user info, fragment, or values of secret-looking query parameters."""
    parts = urlsplit(str(url))
    netloc = parts.netloc.rpartition("@")[2]
    pairs = []
    for pair in parts.query.split("&") if parts.query else ():
        raw_name = pair.split("=", 1)[0]
        secret = any(word in unquote_plus(raw_name).lower() for word in SECRET_WORDS)
        pairs.append(f"{raw_name}=***" if secret else pair)
    query = f"?{'&'.join(pairs)}" if pairs else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


class ThirdPartyError(httpx.HTTPError):
    """A call to another service failed; ``code`` is the seed's 60x code for the failure."""

    code = status.HTTP_600_THIRD_PARTY_ERROR

    def __init__(self, message: str, *, request: httpx.Request, attempts: int,
                 response: httpx.Response | None = None):
        # Explicit base call: the httpx parents take different keyword arguments.
        httpx.HTTPError.__init__(self, message)
        self.request = request
        self.message = message
        self.method = request.method
        self.url = redact_url(request.url)
        self.attempts = attempts
        self.response = response


class ThirdPartyStatusError(ThirdPartyError, httpx.HTTPStatusError):
    """The service answered 4xx/5xx (601)."""

    code = status.HTTP_601_THIRD_PARTY_STATUS_ERROR


class ThirdPartyTimeoutError(ThirdPartyError, httpx.TimeoutException):
    """No answer in time, on every attempt (604)."""

    code = status.HTTP_604_THIRD_PARTY_TIMEOUT_ERROR


class ThirdPartyNetworkError(ThirdPartyError, httpx.NetworkError):
    """Connection refused, reset or broken, on every attempt (605)."""

    code = status.HTTP_605_THIRD_PARTY_NEWORK_ERROR


class ThirdPartyRetryError(ThirdPartyStatusError):
    """A retryable status (429/502/503/504) was still returned after all retries (606)."""

    code = status.HTTP_606_THIRD_PARTY_RETRY_ERROR


def attempts_of(response: httpx.Response) -> int:
    """How many attempts the client made for this response (1 = no retry)."""
    return response.extensions.get(RETRY_EXTENSION, {}).get("attempts", 1)


def check_response(response: httpx.Response) -> httpx.Response:
    """Return a 1xx-3xx response; raise 606 or 601 (see the module rule) for 4xx/5xx."""
    if response.status_code < 400:
        return response
    info = response.extensions.get(RETRY_EXTENSION, {})
    exhausted = info.get("retryable", False)
    cls = ThirdPartyRetryError if exhausted else ThirdPartyStatusError
    attempts = info.get("attempts", 1)
    what = f"still {response.status_code} after {attempts} attempts" if exhausted else (
        f"answered {response.status_code}")
    raise cls(f"{response.request.method} {redact_url(response.request.url)} {what}",
              request=response.request, attempts=attempts, response=response)


@dataclass(frozen=True)
class RetryPolicy:
    """The seed's retry keys (seconds), plus what is retried."""

    stop_max_attempt_number: int = 3
    stop_max_delay: float | None = 60
    wait_exponential_multiplier: float = 0.5
    wait_exponential_max: float = 10
    retry_statuses: frozenset[int] = RETRY_STATUSES
    retry_methods: frozenset[str] = IDEMPOTENT_METHODS

    def __post_init__(self) -> None:
        if self.stop_max_attempt_number < 1:
            raise ValueError("stop_max_attempt_number must be at least 1")
        if self.wait_exponential_multiplier < 0 or self.wait_exponential_max < 0:
            raise ValueError("retry waits must not be negative")

    def retry_exception(self, method: str, exc: BaseException) -> bool:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return True
        return method in self.retry_methods and isinstance(
            exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
        )

    def retry_response(self, method: str, response: httpx.Response) -> bool:
        return method in self.retry_methods and response.status_code in self.retry_statuses

    def wait(self, state: tenacity.RetryCallState) -> float:
        seconds = min(self.wait_exponential_multiplier * 2 ** (state.attempt_number - 1),
                      self.wait_exponential_max)
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            retry_after = outcome.result().headers.get("retry-after", "")
            if retry_after.isdigit():
                seconds = max(seconds, min(float(retry_after), self.wait_exponential_max))
        return seconds

    def tenacity_options(self, method: str) -> dict[str, Any]:
        stop = tenacity.stop_after_attempt(self.stop_max_attempt_number)
        if self.stop_max_delay is not None:
            stop = stop | tenacity.stop_before_delay(self.stop_max_delay)
        retry = tenacity.retry_if_exception(
            lambda exc: self.retry_exception(method, exc)
        ) | tenacity.retry_if_result(lambda resp: self.retry_response(method, resp))
        return {
            "stop": stop,
            "wait": self.wait,
            "retry": retry,
            # Out of attempts: return the last answer, or re-raise the last transport error.
            "retry_error_callback": lambda state: state.outcome.result(),
        }


def _policy(options: dict[str, Any]) -> RetryPolicy:
    keys = RetryPolicy.__dataclass_fields__
    values = {k: options.pop(k) for k in list(options) if k in keys}
    for name in ("retry_statuses", "retry_methods"):
        if name in values:
            items: Collection[Any] = values[name]
            values[name] = frozenset(m.upper() if isinstance(m, str) else m for m in items)
    return RetryPolicy(**values)


class _Call:
    """Book-keeping of one logical call: request-id header, timing, the final log line."""

    def __init__(self, request: httpx.Request, policy: RetryPolicy):
        request_id = current_request_id()
        if request_id and REQUEST_ID_HEADER not in request.headers:
            request.headers[REQUEST_ID_HEADER] = request_id
        self.request = request
        self.policy = policy
        self.url = redact_url(request.url)
        self.started = time.perf_counter()

    def log_retry(self, state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        why = (type(outcome.exception()).__name__ if outcome.failed
               else str(outcome.result().status_code))
        logger.debug(
            f"HTTP {self.request.method} {self.url} attempt {state.attempt_number} got {why}; "
            f"retrying in {state.upcoming_sleep:.2f}s"
        )

    def _log(self, level: str, result: str, attempts: int) -> None:
        ms = (time.perf_counter() - self.started) * 1000
        logger.bind(http_method=self.request.method, http_url=self.url, http_result=result,
                    http_attempts=attempts, http_latency_ms=round(ms, 1)).log(
            level, f"HTTP {self.request.method} {self.url} -> {result} "
                   f"attempts={attempts} {ms:.1f}ms")

    def done(self, response: httpx.Response, statistics: dict[str, Any]) -> httpx.Response:
        attempts = statistics.get("attempt_number", 1)
        response.extensions[RETRY_EXTENSION] = {
            "attempts": attempts,
            "waited": statistics.get("idle_for", 0.0),
            "retryable": self.policy.retry_response(self.request.method, response),
        }
        self._log("INFO" if response.status_code < 400 else "WARNING",
                  str(response.status_code), attempts)
        record_outbound(self.request.url.host, response.status_code,
                        time.perf_counter() - self.started)
        return response

    def failed(self, exc: httpx.TransportError, statistics: dict[str, Any]) -> ThirdPartyError:
        attempts = statistics.get("attempt_number", 1)
        self._log("WARNING", type(exc).__name__, attempts)
        record_outbound(self.request.url.host, "error", time.perf_counter() - self.started)
        cls = ThirdPartyTimeoutError if isinstance(exc, httpx.TimeoutException) else (
            ThirdPartyNetworkError)
        return cls(f"{self.request.method} {self.url} failed after {attempts} attempt(s): "
                   f"{type(exc).__name__}", request=self.request, attempts=attempts)


class Client(httpx.Client):
    """``httpx.Client`` with the module's retry and outcome rules; any httpx option passes through.

    Extra keywords: the seed's ``stop_max_attempt_number``, ``stop_max_delay``,
    ``wait_exponential_multiplier``, ``wait_exponential_max``; ``retry_statuses``,
    ``retry_methods`` (add "POST" to retry it) and ``raise_for_status``.
    """

    def __init__(self, *, raise_for_status: bool = False, **options: Any):
        self.retry_policy = _policy(options)
        self.raise_for_status = raise_for_status
        super().__init__(**options)

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        call = _Call(request, self.retry_policy)
        retrying = tenacity.Retrying(
            **self.retry_policy.tenacity_options(request.method),
            before_sleep=lambda state: _close_sync(state, call),
        )
        try:
            response = retrying(super().send, request, **kwargs)
        except httpx.TransportError as exc:
            raise call.failed(exc, retrying.statistics) from exc
        call.done(response, retrying.statistics)
        return check_response(response) if self.raise_for_status else response


class AsyncClient(httpx.AsyncClient):
    """The ``httpx.AsyncClient`` twin of :class:`Client` (same keywords and rules)."""

    def __init__(self, *, raise_for_status: bool = False, **options: Any):
        self.retry_policy = _policy(options)
        self.raise_for_status = raise_for_status
        super().__init__(**options)

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        call = _Call(request, self.retry_policy)

        async def before_sleep(state: tenacity.RetryCallState) -> None:
            call.log_retry(state)
            if not state.outcome.failed:
                await state.outcome.result().aclose()

        retrying = tenacity.AsyncRetrying(
            **self.retry_policy.tenacity_options(request.method), before_sleep=before_sleep
        )
        try:
            response = await retrying(super().send, request, **kwargs)
        except httpx.TransportError as exc:
            raise call.failed(exc, retrying.statistics) from exc
        call.done(response, retrying.statistics)
        return check_response(response) if self.raise_for_status else response


def _close_sync(state: tenacity.RetryCallState, call: _Call) -> None:
    """Before waiting: log the retry and free the connection of an answer being discarded."""
    call.log_retry(state)
    if not state.outcome.failed:
        state.outcome.result().close()


__all__ = [
    "Client",
    "AsyncClient",
    "RetryPolicy",
    "ThirdPartyError",
    "ThirdPartyStatusError",
    "ThirdPartyTimeoutError",
    "ThirdPartyNetworkError",
    "ThirdPartyRetryError",
    "check_response",
    "attempts_of",
    "redact_url",
]
