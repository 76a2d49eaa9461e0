"""What every Baton plugin written in Python needs, over the bindings componentize-py
generates from the WIT (`wit_world`, made at build time):

- JSON: `settings(text)`, `payload(request)` and `json_object(text, what)` read the JSON
  objects the host sends as text, failing with a clear `fatal` when they are not objects.
- Failures: raise `fatal(reason)`, `skip(reason)` or `retry(reason, after_ms)` from a
  resolver or a stage; an agent raises `auth_failed`, `rate_limited`, `quota_exhausted`,
  `overloaded`, `timeout`, `bad_request` or `agent_fatal`. Raising `Err(...)` is how a WIT
  `result` fails in Python; an exception of any other type is a bug the host reports.
- Logging: `trace/debug/info/warn/error(message, **fields)` go into the job's log.
- HTTP over wasi:http: `request(method, url, headers, body)` and `get_json(url)`; a response
  with a status an API uses for "try later" or "not here" maps to a failure with
  `failure_for_status`. The operator must grant the hosts (`http` in describe(), `[plugins.NAME.grants]`).
"""

import json
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import log as _log
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as http
from wit_world.imports.plugin_types import (
    AgentFailure_AuthFailed,
    AgentFailure_BadRequest,
    AgentFailure_Fatal,
    AgentFailure_Overloaded,
    AgentFailure_QuotaExhausted,
    AgentFailure_RateLimited,
    AgentFailure_Timeout,
    Failure_Fatal,
    Failure_Retry,
    Failure_Skip,
    Field,
    LimitHit,
    LimitScope,
    Retry,
)

# --- failures ------------------------------------------------------------------------------


def fatal(reason: str) -> Err:
    """The input can never succeed; the job ends `failed`. Use as `raise fatal("...")`."""
    return Err(Failure_Fatal(reason))


def skip(reason: str) -> Err:
    """Nothing to do for this input; the job ends `skipped`."""
    return Err(Failure_Skip(reason))


def retry(reason: str, after_ms: int | None = None) -> Err:
    """A transient failure: the host tries again later; `after_ms` (e.g. a Retry-After) makes
    the wait a snooze that does not use up an attempt."""
    return Err(Failure_Retry(Retry(reason, after_ms)))


def auth_failed(message: str) -> Err:
    """Agents: the credential was refused; name the variable or login command that fixes it."""
    return Err(AgentFailure_AuthFailed(message))


def rate_limited(message: str, scope: str = "requests", reset_at_ms: int | None = None) -> Err:
    """Agents: a per-minute limit was hit (`scope` is "requests" or "tokens"); `reset_at_ms` is
    when it resets, in milliseconds since the Unix epoch, when the provider said."""
    return Err(AgentFailure_RateLimited(LimitHit(_scope(scope), message, reset_at_ms)))


def quota_exhausted(message: str, reset_at_ms: int | None = None) -> Err:
    """Agents: a daily or monthly allowance is used up."""
    return Err(AgentFailure_QuotaExhausted(LimitHit(LimitScope.QUOTA, message, reset_at_ms)))


def overloaded(reason: str, after_ms: int | None = None) -> Err:
    """Agents: the provider is overloaded (529/503); `after_ms` when it said how long."""
    return Err(AgentFailure_Overloaded(Retry(reason, after_ms)))


def timeout(reason: str) -> Err:
    """Agents: the provider or program did not answer in time."""
    return Err(AgentFailure_Timeout(reason))


def bad_request(reason: str) -> Err:
    """Agents: the request can never succeed as sent (unknown model, context too long)."""
    return Err(AgentFailure_BadRequest(reason))


def agent_fatal(reason: str) -> Err:
    """Agents: anything else that cannot succeed."""
    return Err(AgentFailure_Fatal(reason))


def _scope(name: str) -> LimitScope:
    scopes = {"requests": LimitScope.REQUESTS, "tokens": LimitScope.TOKENS, "quota": LimitScope.QUOTA}
    if name not in scopes:
        raise ValueError(f"limit scope must be one of {sorted(scopes)}, not {name!r}")
    return scopes[name]


# --- JSON ----------------------------------------------------------------------------------


def json_object(text: str, what: str) -> dict:
    """Parses a JSON object the host sent as text (empty text is `{}`); raises `fatal` naming
    `what` when it is not a JSON object."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise fatal(f"{what} is not JSON: {e}")
    if not isinstance(value, dict):
        raise fatal(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def settings(text: str) -> dict:
    """The plugin's settings from the operator's config (`settings` of a request, context or
    session config)."""
    return json_object(text, "settings")


def payload(request) -> dict:
    """A resolver's artifact payload as a dict."""
    return json_object(request.artifact.payload, "payload")


def required_str(obj: dict, key: str, what: str = "settings") -> str:
    """`obj[key]` as a non-empty string, or a `fatal` naming the key."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise fatal(f"{what}.{key} must be a non-empty string")
    return value


# --- logging -------------------------------------------------------------------------------


def _emit(level, message: str, fields: dict) -> None:
    _log.emit(level, message, [Field(str(k), str(v)) for k, v in fields.items()])


def trace(message: str, **fields) -> None:
    _emit(_log.Level.TRACE, message, fields)


def debug(message: str, **fields) -> None:
    _emit(_log.Level.DEBUG, message, fields)


def info(message: str, **fields) -> None:
    _emit(_log.Level.INFO, message, fields)


def warn(message: str, **fields) -> None:
    _emit(_log.Level.WARN, message, fields)


def error(message: str, **fields) -> None:
    _emit(_log.Level.ERROR, message, fields)


# --- HTTP over wasi:http -------------------------------------------------------------------


class HttpError(Exception):
    """The request did not produce a response (refused by the host's grants, DNS, connect,
    timeout...). `code` is the wasi:http error-code case name, e.g. `HttpRequestDenied`."""

    def __init__(self, url: str, code: str, detail: str = ""):
        self.url = url
        self.code = code
        super().__init__(f"{url}: {code}{': ' + detail if detail else ''}")


class Response:
    """A complete response: `status`, `headers` (lowercase name → last value) and `body`."""

    def __init__(self, url: str, status: int, headers: dict, body: bytes):
        self.url = url
        self.status = status
        self.headers = headers
        self.body = body

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise fatal(f"{self.url} did not answer JSON: {e}")


_METHODS = {
    "GET": http.Method_Get,
    "HEAD": http.Method_Head,
    "POST": http.Method_Post,
    "PUT": http.Method_Put,
    "DELETE": http.Method_Delete,
    "PATCH": http.Method_Patch,
    "OPTIONS": http.Method_Options,
}


def request(
    method: str,
    url: str,
    headers: dict | None = None,
    body: bytes | None = None,
    timeout_ms: int | None = None,
) -> Response:
    """Sends one request and reads the whole response. Raises `HttpError` when there is no
    response; any status (404, 500...) is a `Response`. Redirects are not followed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError(url, "InvalidUrl", "only absolute http:// and https:// URLs")
    method_case = _METHODS.get(method.upper())
    entries = [(k.lower(), str(v).encode()) for k, v in (headers or {}).items()]
    try:
        fields = http.Fields.from_list(entries)
    except Err as e:
        raise HttpError(url, "InvalidHeader", type(e.value).__name__)
    outgoing = http.OutgoingRequest(fields)
    outgoing.set_method(method_case() if method_case else http.Method_Other(method))
    outgoing.set_scheme(http.Scheme_Https() if parts.scheme == "https" else http.Scheme_Http())
    outgoing.set_authority(parts.netloc)
    outgoing.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    options = None
    if timeout_ms is not None:
        options = http.RequestOptions()
        nanos = timeout_ms * 1_000_000
        options.set_connect_timeout(nanos)
        options.set_first_byte_timeout(nanos)
        options.set_between_bytes_timeout(nanos)
    # Only a request with a body opens one: an open, unfinished body would hold the request.
    outgoing_body = outgoing.body() if body is not None else None
    try:
        future = outgoing_handler.handle(outgoing, options)
    except Err as e:
        raise HttpError(url, _code_name(e.value))
    if outgoing_body is not None:
        with outgoing_body.write() as stream:
            for start in range(0, len(body), 4096):
                stream.blocking_write_and_flush(body[start : start + 4096])
        http.OutgoingBody.finish(outgoing_body, None)
    with future:
        with future.subscribe() as ready:
            ready.block()
        answer = future.get()
    if answer is None or isinstance(answer, Err) or isinstance(answer.value, Err):
        code = _code_name(answer.value.value) if answer is not None and isinstance(answer, Ok) else "NoResponse"
        raise HttpError(url, code)
    with answer.value.value as incoming:
        status = incoming.status()
        with incoming.headers() as fields:
            received = {name.lower(): value.decode("latin-1") for name, value in fields.entries()}
        with incoming.consume() as incoming_body:
            content = _read_all(incoming_body.stream())
    return Response(url, status, received, content)


def _read_all(stream) -> bytes:
    chunks = []
    with stream:
        while True:
            try:
                chunks.append(stream.blocking_read(65536))
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                raise HttpError("response body", "StreamError", type(e.value).__name__)
    return b"".join(chunks)


def _code_name(code) -> str:
    return type(code).__name__.removeprefix("ErrorCode_")


def get(url: str, headers: dict | None = None, timeout_ms: int | None = None) -> Response:
    """`request("GET", url, ...)`."""
    return request("GET", url, headers, None, timeout_ms)


def failure_for_status(response: Response) -> Err | None:
    """The failure an API's status means, or None for 2xx: 404/410 → `skip`, 429 and 503 →
    `retry` after Retry-After (seconds), other 5xx → `retry`, anything else → `fatal`."""
    status = response.status
    if 200 <= status < 300:
        return None
    if status in (404, 410):
        return skip(f"{response.url}: not found (HTTP {status})")
    if status in (429, 503):
        after = response.headers.get("retry-after", "")
        after_ms = int(after) * 1000 if after.isdigit() else None
        return retry(f"{response.url}: HTTP {status}", after_ms)
    if status >= 500:
        return retry(f"{response.url}: HTTP {status}")
    return fatal(f"{response.url}: HTTP {status}: {response.text()[:200]}")


def get_json(url: str, headers: dict | None = None, timeout_ms: int | None = None):
    """GETs `url` asking for JSON and parses the answer. A status other than 2xx raises the
    failure `failure_for_status` gives; no response at all raises `retry`, or `fatal` when the
    host refused the request (the grant is missing)."""
    wanted = {"accept": "application/json", **(headers or {})}
    try:
        response = get(url, wanted, timeout_ms)
    except HttpError as e:
        if e.code == "HttpRequestDenied":
            raise fatal(f"{e} (grant the host in [plugins.NAME.grants] http)")
        raise retry(str(e))
    failure = failure_for_status(response)
    if failure is not None:
        raise failure
    return response.json()
