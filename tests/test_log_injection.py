"""A client cannot forge log lines or reach a terminal through the log: control characters
from a request are escaped in text lines and in JSON, on a real server, sent byte for byte."""

from __future__ import annotations

import json
import socket
import time

import pytest
from fastflyer.observability.escape import escape_control

from tests.support import DEMO, run_server

INJECTIONS = {
    "crlf": b"GET /%0d%0aFAKE%20LINE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "esc-path": b"GET /flyer/items/%1b[31mred HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "esc-user-agent": (b"GET /flyer/items/1?marker=ua HTTP/1.1\r\nHost: x\r\n"
                       b"User-Agent: evil\x1b[2J\x1b[31m\r\nConnection: close\r\n\r\n"),
}


def send_raw(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_escape_control_unit():
    assert escape_control("/flyer/items/1") == "/flyer/items/1"
    assert escape_control("/\r\nFAKE LINE") == "/\\x0d\\x0aFAKE LINE"
    assert escape_control("\x1b[31mred\x7f\x85") == "\\x1b[31mred\\x7f\\x85"
    assert escape_control("a\u2028b") == "a\\u2028b"
    assert escape_control("中文路径") == "中文路径"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_control_characters_never_reach_the_log(log_format):
    env = {"flyer_workers": "1", "flyer_log_format": log_format}
    new_lines: dict[str, list[str]] = {}
    with run_server(cwd=DEMO, env=env) as srv:
        for name, payload in INJECTIONS.items():
            before = len(srv.log().splitlines())
            answer = send_raw(srv.port, payload)
            assert answer.startswith(b"HTTP/1.1 "), (name, answer[:80])
            time.sleep(0.4)  # the access log is written off the event loop
            new_lines[name] = srv.log().splitlines()[before:]
        log = srv.log()
    assert "\x1b" not in log and "\r" not in log
    for name, lines in new_lines.items():  # one request, one line, whatever it carried
        assert len(lines) == 1, (name, lines)
        if log_format == "json":
            json.loads(lines[0])
    (crlf,), (esc,), (ua,) = new_lines.values()
    if log_format == "text":
        assert '"GET /\\x0d\\x0aFAKE LINE HTTP/1.1" 404' in crlf
        assert "/flyer/items/\\x1b[31mred" in esc
    else:
        assert json.loads(crlf)["path"] == "/\r\nFAKE LINE"  # escaped by the encoder, exact inside
        assert json.loads(esc)["path"] == "/flyer/items/\x1b[31mred"
    # A raw ESC in a header is refused by the HTTP parser (400) with one fixed line.
    assert "Invalid HTTP request received." in ua


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_message_carrying_request_data_stays_one_line(tmp_path, log_format):
    from fastflyer.observability.logs import configure_logging, logger

    configure_logging(log_path=tmp_path, log_format=log_format)
    try:
        logger.info("user said: hi\r\nFAKE LINE \x1b[2J")
    finally:
        configure_logging()
    lines = (tmp_path / "fastflyer.log").read_text().splitlines()
    assert len(lines) == 1 and "\x1b" not in lines[0]
    if log_format == "json":
        assert json.loads(lines[0])["message"] == "user said: hi\r\nFAKE LINE \x1b[2J"
    else:
        assert lines[0].endswith("user said: hi\\x0d\\x0aFAKE LINE \\x1b[2J")
