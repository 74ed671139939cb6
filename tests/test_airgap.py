"""Air-gapped: importing fastflyer and serving the demo (docs included) works in a network
namespace that has only ``lo``, and ``strace`` sees no connect() to anything but loopback —
not even a DNS query."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.support import DEMO, REPO, fastflyer_exe, free_port, need

DRIVER = REPO / "tests" / "reliability_helpers" / "airgap_driver.py"
CONNECT = re.compile(r"connect\(\d+, \{sa_family=(AF_\w+)(.*?)\}")
LOOPBACK = re.compile(r'inet_addr\("127\.|inet_pton\(AF_INET6, "(::1|::ffff:127\.[\d.]+)"')


def need_namespaces() -> None:
    for tool in ("unshare", "strace", "ip"):
        need(shutil.which(tool) is not None, f"{tool} is not installed")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    need(probe.returncode == 0, f"cannot create a network namespace: {probe.stderr.strip()}")


def connect_targets(trace: str) -> list[tuple[str, str]]:
    return [(family, detail) for family, detail in CONNECT.findall(trace)]


@pytest.mark.tool
def test_serving_the_demo_needs_no_network(tmp_path):
    need_namespaces()
    trace_file = tmp_path / "connect.trace"
    port = str(free_port())
    command = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace_file),
               "unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
               sys.executable, str(DRIVER), fastflyer_exe(), str(DEMO), port]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["exit_code"] == 0, report["server_output"][-3000:]
    assert "Traceback" not in report["server_output"]
    statuses = report["statuses"]
    assert len(statuses) > 7  # the docs pages' own assets were found and fetched
    assert all(code == 200 for code in statuses.values()), statuses

    targets = connect_targets(trace_file.read_text())
    inet = [(family, detail) for family, detail in targets if family in ("AF_INET", "AF_INET6")]
    print(f"air-gap: {len(targets)} connect() calls, {len(inet)} over IP, families "
          f"{sorted({family for family, _ in targets})}")
    assert inet  # the trace really saw the driver's own loopback connections
    outside = [detail for _, detail in inet if not LOOPBACK.search(detail)]
    assert not outside, outside
    # Local sockets are fine (e.g. nscd), anything else would be news.
    assert {family for family, _ in targets} <= {"AF_INET", "AF_INET6", "AF_UNIX"}
