"""The HTTP edge of a real `fastflyer serve` over raw sockets: early answers, pipelining, the
head cap whatever the segmentation, descriptor exhaustion and the connection limit."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import resource
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import DEMO, Server, run_server

MAX_HEAD = 64 * 1024  # flyer_max_header_size's default
STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")
AUTH = b"Authorization: Basic " + base64.b64encode(b"u:p") + b"\r\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def demo() -> Iterator[Server]:
    env = {"flyer_workers": "1", "flyer_auth_enable": "1", "flyer_auth_user": "u",
           "flyer_auth_pass": "p", "flyer_access_log": "0"}
    with run_server(cwd=DEMO, env=env) as srv:
        yield srv


@contextlib.contextmanager
def connection(srv: Server, timeout: float = 15) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        yield sock
    finally:
        sock.close()


def send(sock: socket.socket, data: bytes) -> bool:
    """False once the server has closed the connection (as it does after a 431)."""
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (or the socket times out)."""
    chunks = []
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def statuses(data: bytes) -> list[int]:
    return [int(code) for code in STATUS.findall(data)]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def close_request(path: bytes = b"/health_check") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def test_early_answer_while_the_body_arrives_is_the_only_answer(demo):
    """401 before the body is read; the body that keeps arriving is not taken for a head."""
    body_size = 1 << 20
    with connection(demo) as sock:
        sent = send(sock, b"POST /flyer/items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
                          b"\r\nContent-Length: %d\r\n\r\n" % body_size)
        for _ in range(body_size // 65536):
            time.sleep(0.02)
            sent = sent and send(sock, b" " * 65536)
        sent = sent and send(sock, close_request())
        answer = read_all(sock)
    assert statuses(answer) == [401, 200], answer[:2000]
    assert sent


def test_pipelined_requests_with_bodies_are_answered_in_order(demo):
    bodies = [b'{"name":"pipelined-%d","price":%d}' % (i, i) + b" " * 100_000 for i in range(3)]
    wire = b"".join(
        b"POST /flyer/items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + AUTH
        + b"Content-Length: %d\r\n\r\n" % len(body) + body for body in bodies) + close_request()
    with connection(demo) as sock:
        for start in range(0, len(wire), 16384):  # slowly: answers go out while bodies arrive
            send(sock, wire[start:start + 16384])
            time.sleep(0.01)
        answer = read_all(sock)
    assert statuses(answer) == [201, 201, 201, 200], answer[:2000]
    names = re.findall(rb'"name":"(pipelined-\d)"', answer)
    assert names == [b"pipelined-0", b"pipelined-1", b"pipelined-2"]
    assert b"Cannot call write()" not in demo.log().encode()


def padded_head(size: int) -> bytes:
    start = b"GET /health_check HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    return start + b"X-Pad: " + b"p" * (size - len(start) - len(b"X-Pad: \r\n\r\n")) + b"\r\n\r\n"


@pytest.mark.parametrize("bytewise", [False, True], ids=["one write", "byte by byte"])
@pytest.mark.parametrize(("size", "expected"), [(MAX_HEAD, 200), (MAX_HEAD + 1, 431)])
def test_head_cap_is_exact_whatever_the_segmentation(demo, size, expected, bytewise):
    head = padded_head(size)
    assert len(head) == size
    with connection(demo) as sock:
        if bytewise:
            for i in range(size):
                if not send(sock, head[i:i + 1]):
                    break
        else:
            send(sock, head)
        answer = read_all(sock)
    assert statuses(answer) == [expected], answer[:300]


def test_head_cap_applies_behind_a_request_in_flight(demo):
    cpu = cpu_seconds(demo.proc.pid)
    with connection(demo) as sock:
        send(sock, b"GET /flyer/items/slow?seconds=1 HTTP/1.1\r\nHost: t\r\n" + AUTH + b"\r\n")
        send(sock, b"GET /flyer/items/1 HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (1 << 20))
        answer = read_all(sock)
    cpu = cpu_seconds(demo.proc.pid) - cpu
    print(f"1 MiB head behind a request in flight: {cpu:.2f} s of server CPU")
    assert statuses(answer) == [200, 431], answer[:2000]
    assert answer.index(b'"slept":1.0') < answer.index(b"HTTP/1.1 431")
    assert cpu < 2.0


def test_descriptor_exhaustion_costs_little_and_passes():
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_access_log": "0"}) as srv:
        pid = srv.proc.pid
        in_use = len(os.listdir(f"/proc/{pid}/fd"))
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 10, hard))
        clients = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(40)]
        try:
            time.sleep(0.5)  # the server accepts until it runs out of descriptors
            cpu = cpu_seconds(pid)
            time.sleep(3)
            cpu = cpu_seconds(pid) - cpu
            lines = [line for line in srv.log().splitlines() if "accept()" in line]
            print(f"3 s out of descriptors: {cpu:.2f} s of server CPU, {len(lines)} log lines")
            assert lines and "Too many open files" in lines[0]
            assert len(lines) <= 3, lines[:5]
            assert cpu < 1.0  # a spinning acceptor burns a whole core
        finally:
            for client in clients:
                client.close()
        deadline = time.monotonic() + 15
        while True:  # the closed connections free descriptors: accepting resumes
            try:
                assert httpx.get(srv.url("/health_check"), timeout=2).status_code == 200
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not accept again"
                time.sleep(0.2)


def test_connection_limit_answers_503_quickly_and_health_checks_still_pass():
    env = {"flyer_workers": "1", "flyer_worker_connections": "5", "flyer_access_log": "0"}
    with run_server(cwd=DEMO, env=env) as srv, contextlib.ExitStack() as stack:
        time.sleep(0.5)  # the start-up probe's connection has closed
        busy = [stack.enter_context(connection(srv)) for _ in range(5)]
        for sock in busy:
            send(sock, b"GET /flyer/items/slow?seconds=4 HTTP/1.1\r\nHost: t\r\n\r\n")
        started = time.monotonic()
        with connection(srv) as sock:
            send(sock, close_request(b"/flyer/items"))
            answer = read_all(sock)
        took = time.monotonic() - started
        print(f"over the connection limit: answered in {took * 1000:.0f} ms")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b"\r\n")[0] == b"HTTP/1.1 503 Service Unavailable"
        assert b"\r\nretry-after: 1" in head.lower() and b"\r\nconnection: close" in head.lower()
        assert body == b'{"code":503,"message":"Too many connections"}'
        assert took < 3
        for path in (b"/health_check", b"/health_check/async", b"/health_check/ready",
                     b"/flyer/health_check"):
            with connection(srv) as sock:
                send(sock, close_request(path))
                assert statuses(read_all(sock)) == [200], path
        for sock in busy:  # the requests on the first five connections are served
            assert statuses(sock.recv(65536)) == [200]
        for sock in busy:
            sock.close()
        time.sleep(0.2)
        assert httpx.get(srv.url("/flyer/items"), timeout=5).status_code == 200
