"""Client / AsyncClient against a real local HTTP server: the seed's examples, retry counts and
waits, the outcome rule (60x codes), TLS verification, log redaction, request-id forwarding."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastflyer import status
from fastflyer.httpclient import (
    ThirdPartyNetworkError,
    ThirdPartyRetryError,
    ThirdPartyStatusError,
    ThirdPartyTimeoutError,
    attempts_of,
    check_response,
)
from fastflyer.observability.context import request_id_var
from fastflyer.observability.logs import logger

from tests.sdk_helpers.http_server import TestServer
from tests.support import free_port, need

QUICK = {"wait_exponential_multiplier": 0.05, "wait_exponential_max": 0.1}


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer() as srv:
        yield srv


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{message}")
    yield lines
    logger.remove(sink)


def key() -> str:
    return uuid.uuid4().hex


def gaps(arrivals) -> list[float]:
    return [b.at - a.at for a, b in zip(arrivals, arrivals[1:], strict=False)]


# --- the seed's examples, against the local server instead of httpbin -------------------------

def test_seed_sync_example(server, capsys):
    from fastflyer import Client

    # 发起 GET 请求示例
    url = f"{server.base}/get"
    headers = {"User-Agent": "My User Agent"}
    params = {"param1": "value1", "param2": "value2"}
    requests = Client()
    response = requests.get(url, headers=headers, params=params)
    print(response.status_code)
    print(response.text)
    # 发起 POST 请求示例
    url = f"{server.base}/post"
    payload = {"key": "value"}
    response = requests.post(url, json=payload)
    print(response.status_code)
    print(response.text)

    out = capsys.readouterr().out
    assert out.count("200") >= 2
    get, post = server.recorder.arrivals
    assert get.path == "/get?param1=value1&param2=value2"
    assert get.headers["User-Agent"] == "My User Agent"
    assert post.method == "POST" and response.json()["body"] == '{"key":"value"}'


def test_seed_async_example(server):
    from fastflyer import AsyncClient

    url = f"{server.base}/get"
    headers = {"User-Agent": "My User Agent"}
    failures = []

    async def test():
        aiorequests = AsyncClient()
        resp = await aiorequests.get(url=url, headers=headers)
        if resp.status_code != 200:
            logger.error("请求失败")
            failures.append(resp)
        return resp

    resp = asyncio.run(test())
    assert resp.status_code == 200 and not failures
    assert server.recorder.arrivals[0].headers["User-Agent"] == "My User Agent"


def test_seed_custom_retry_and_options_are_accepted(server):
    from fastflyer import Client

    REQUEST_RETRY_CONFIG = {
        "stop_max_attempt_number": 3,  # 最大重试 3 次
        "stop_max_delay": 60,  # 最大重试耗时 60 s
        "wait_exponential_multiplier": 2,  # 重试间隔时间倍数 2s、4s、8s...
        "wait_exponential_max": 10,  # 最大重试间隔时间 10s
    }
    requests = Client(**REQUEST_RETRY_CONFIG)
    assert requests.retry_policy.stop_max_attempt_number == 3
    assert requests.retry_policy.wait_exponential_multiplier == 2
    assert requests.get(f"{server.base}/echo").status_code == 200

    requests = Client(timeout=60, headers={"content-type": "application/json"})
    assert requests.timeout.read == 60
    assert requests.get(f"{server.base}/echo").json()["headers"]["content-type"] == (
        "application/json")


# --- retry behaviour ---------------------------------------------------------------------

def test_retry_count_and_exponential_waits_follow_the_seed_keys(server):
    from fastflyer import Client

    k = key()
    client = Client(stop_max_attempt_number=4, stop_max_delay=60,
                    wait_exponential_multiplier=0.2, wait_exponential_max=0.3)
    resp = client.get(f"{server.base}/flaky/{k}/3/503")
    assert resp.status_code == 200 and resp.json()["arrival"] == 4
    assert attempts_of(resp) == 4
    # waits: 0.2 * 2**0 = 0.2, then 0.4 capped at 0.3, then 0.3 (measured at the server)
    first, second, third = gaps(server.recorder.for_path(f"/flaky/{k}"))
    assert 0.2 <= first < 2 and 0.3 <= second < 2 and 0.3 <= third < 2
    assert 0.8 <= resp.extensions["fastflyer.retry"]["waited"] < 0.81


def test_attempt_limit_then_last_answer_returned_and_606(server):
    from fastflyer import Client

    k = key()
    client = Client(stop_max_attempt_number=2, **QUICK)
    resp = client.get(f"{server.base}/flaky/{k}/9/503")
    assert resp.status_code == 503
    assert len(server.recorder.for_path(f"/flaky/{k}")) == 2
    with pytest.raises(ThirdPartyRetryError) as info:
        check_response(resp)
    assert info.value.code == status.HTTP_606_THIRD_PARTY_RETRY_ERROR == 606
    assert info.value.attempts == 2 and isinstance(info.value, httpx.HTTPStatusError)


def test_stop_max_delay_bounds_the_total_time(server):
    from fastflyer import Client

    k = key()
    client = Client(stop_max_attempt_number=50, stop_max_delay=1.0,
                    wait_exponential_multiplier=0.3, wait_exponential_max=0.3)
    resp = client.get(f"{server.base}/flaky/{k}/99/502")
    arrivals = server.recorder.for_path(f"/flaky/{k}")
    assert resp.status_code == 502
    # attempts at about 0, 0.3, 0.6, 0.9 s: no attempt would start after 1 s
    assert 3 <= len(arrivals) <= 4
    assert arrivals[-1].at - arrivals[0].at < 1.0


@pytest.mark.parametrize("code", [429, 502, 503, 504])
def test_default_retry_statuses(server, code):
    from fastflyer import Client

    k = key()
    resp = Client(**QUICK).get(f"{server.base}/flaky/{k}/1/{code}")
    assert resp.status_code == 200 and attempts_of(resp) == 2


def test_other_errors_are_not_retried_and_map_to_601(server):
    from fastflyer import Client

    k = key()
    resp = Client(**QUICK).get(f"{server.base}/flaky/{k}/1/500")
    assert resp.status_code == 500 and len(server.recorder.for_path(f"/flaky/{k}")) == 1
    with pytest.raises(ThirdPartyStatusError) as info:
        Client(raise_for_status=True).get(f"{server.base}/status/404")
    assert info.value.code == 601 and not isinstance(info.value, ThirdPartyRetryError)


def test_post_is_not_retried_unless_asked(server):
    from fastflyer import Client

    k = key()
    resp = Client(**QUICK).post(f"{server.base}/flaky/{k}/1/503", json={"a": 1})
    assert resp.status_code == 503 and len(server.recorder.for_path(f"/flaky/{k}")) == 1

    k = key()
    client = Client(retry_methods={"GET", "post"}, **QUICK)
    resp = client.post(f"{server.base}/flaky/{k}/1/503", json={"a": 1})
    assert resp.status_code == 200 and len(server.recorder.for_path(f"/flaky/{k}")) == 2
    assert all(a.method == "POST" for a in server.recorder.for_path(f"/flaky/{k}"))


def test_timeout_after_retries_raises_604(server):
    from fastflyer import Client

    client = Client(timeout=0.2, stop_max_attempt_number=2, **QUICK)
    with pytest.raises(ThirdPartyTimeoutError) as info:
        client.get(f"{server.base}/slow/1")
    assert info.value.code == 604 and info.value.attempts == 2
    assert isinstance(info.value, httpx.TimeoutException)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(server.recorder.for_path("/slow")) == 2


def test_refused_connection_raises_605_after_retries():
    from fastflyer import Client

    port = free_port()  # nothing listens there
    with pytest.raises(ThirdPartyNetworkError) as info:
        Client(stop_max_attempt_number=3, **QUICK).post(f"http://127.0.0.1:{port}/x")
    # the request never left, so even a POST is retried
    assert info.value.code == 605 and info.value.attempts == 3
    assert isinstance(info.value, httpx.NetworkError)


def test_dropped_connection_is_retried_for_get_only(server):
    from fastflyer import Client

    with pytest.raises(ThirdPartyNetworkError):
        Client(stop_max_attempt_number=3, **QUICK).get(f"{server.base}/drop")
    assert len(server.recorder.for_path("/drop")) == 3
    with pytest.raises(ThirdPartyNetworkError) as info:
        Client(stop_max_attempt_number=3, **QUICK).post(f"{server.base}/drop")
    assert info.value.attempts == 1 and len(server.recorder.for_path("/drop")) == 4


def test_async_client_retries_and_maps_errors(server):
    from fastflyer import AsyncClient

    k = key()

    async def run():
        async with AsyncClient(stop_max_attempt_number=3, wait_exponential_multiplier=0.2,
                               wait_exponential_max=0.2) as client:
            ok = await client.get(f"{server.base}/flaky/{k}/2/504")
            with pytest.raises(ThirdPartyTimeoutError):
                await client.get(f"{server.base}/slow/1", timeout=0.2)
            posted = await client.post(f"{server.base}/flaky/{k}-p/1/503")
            return ok, posted

    ok, posted = asyncio.run(run())
    assert ok.status_code == 200 and attempts_of(ok) == 3
    assert all(g >= 0.2 for g in gaps(server.recorder.for_path(f"/flaky/{k}/")))
    assert posted.status_code == 503 and attempts_of(posted) == 1


# --- httpx pass-through, verbs, context manager, TLS ---------------------------------------

def test_all_verbs_request_and_context_manager(server):
    from fastflyer import Client

    with Client(base_url=server.base, headers={"X-Team": "t"}) as client:
        for verb in ("get", "post", "put", "patch", "delete", "options"):
            resp = getattr(client, verb)("/echo")
            assert resp.json()["method"] == verb.upper()
        assert client.head("/echo").status_code == 200
        assert client.request("GET", "/echo", params={"a": "1"}).json()["path"] == "/echo?a=1"
        with client.stream("GET", "/echo") as streamed:
            assert streamed.read()
    assert client.is_closed
    assert {a.headers.get("X-Team") for a in server.recorder.arrivals} == {"t"}


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[str, str]:
    need(shutil.which("openssl") is not None, "openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, keyfile = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyfile,
         "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, keyfile


def test_tls_is_verified_by_default(self_signed):
    from fastflyer import AsyncClient, Client

    cert, keyfile = self_signed
    with TestServer(certfile=cert, keyfile=keyfile) as tls:
        with pytest.raises(ThirdPartyNetworkError) as info:
            Client(stop_max_attempt_number=1).get(f"{tls.base}/echo")
        assert isinstance(info.value.__cause__, httpx.ConnectError)
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value.__cause__)
        trusted = ssl.create_default_context(cafile=cert)
        assert Client(verify=trusted).get(f"{tls.base}/echo").status_code == 200
        assert Client(verify=False).get(f"{tls.base}/echo").status_code == 200

        async def run():
            async with AsyncClient(stop_max_attempt_number=1) as client:
                with pytest.raises(ThirdPartyNetworkError):
                    await client.get(f"{tls.base}/echo")

        asyncio.run(run())


# --- log line and redaction ------------------------------------------------------------------

def test_one_redacted_log_line_per_call(server, log_lines):
    from fastflyer import Client

    host_port = server.base.split("//")[1]
    client = Client(headers={"Authorization": "Bearer SECRET-AUTH"}, cookies={"sid": "SECRET-CK"})
    resp = client.get(f"{server.base}/echo?token=SECRET-TOK&x=1&api_key=SECRET-K",
                      headers={"X-Api-Token": "SECRET-HDR"})
    seen = resp.json()["headers"]
    assert seen["Authorization"] == "Bearer SECRET-AUTH" and "SECRET-CK" in seen["Cookie"]
    basic = Client().get(f"http://user:SECRET-PW@{host_port}/echo")
    assert basic.json()["headers"]["Authorization"].startswith("Basic ")

    k = key()
    Client(**QUICK).get(f"{server.base}/flaky/{k}/1/503?access_token=SECRET-TOK2")
    with pytest.raises(ThirdPartyNetworkError) as info:
        Client(stop_max_attempt_number=1).get(
            f"http://u:SECRET-PW2@127.0.0.1:{free_port()}/?password=SECRET-PW3")

    text = "\n".join(log_lines) + str(info.value)
    for secret in ("SECRET-AUTH", "SECRET-CK", "SECRET-PW", "SECRET-TOK", "SECRET-K",
                   "SECRET-HDR", "SECRET-TOK2", "SECRET-PW2", "SECRET-PW3"):
        assert secret not in text
    calls = [line for line in log_lines if line.startswith("HTTP ") and "->" in line]
    assert len(calls) == 4  # one line per call, retries included
    assert f"GET http://{host_port}/echo?token=***&x=1&api_key=*** -> 200 attempts=1" in calls[0]
    assert f"GET http://{host_port}/echo -> 200 attempts=1" in calls[1]
    assert "-> 200 attempts=2" in calls[2] and "access_token=***" in calls[2]
    assert "-> ConnectError attempts=1" in calls[3]
    assert any("retrying in" in line for line in log_lines)  # the retry itself: debug only


# --- request id ------------------------------------------------------------------------------

def test_current_request_id_is_forwarded(server):
    from fastflyer import AsyncClient, Client

    client = Client()
    assert "X-Request-ID" not in client.get(f"{server.base}/echo").json()["headers"]
    token = request_id_var.set("req-abc-123")
    try:
        assert client.get(f"{server.base}/echo").json()["headers"]["X-Request-ID"] == (
            "req-abc-123")
        explicit = client.get(f"{server.base}/echo", headers={"X-Request-ID": "mine"})
        assert explicit.json()["headers"]["X-Request-ID"] == "mine"
    finally:
        request_id_var.reset(token)

    async def handler(rid: str) -> str:
        request_id_var.set(rid)  # what the middleware does in each request's task
        async with AsyncClient() as aclient:
            resp = await aclient.get(f"{server.base}/echo")
        return resp.json()["headers"]["X-Request-ID"]

    async def two_requests():
        return await asyncio.gather(handler("rid-1"), handler("rid-2"))

    assert asyncio.run(two_requests()) == ["rid-1", "rid-2"]


def test_import_fastflyer_does_not_import_sdk_libraries():
    code = ("import sys, fastflyer\n"
            "heavy = {'httpx', 'tenacity', 'redis', 'sqlalchemy', 'dataset', 'apscheduler'}\n"
            "print(sorted(heavy & set(sys.modules)))")
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
