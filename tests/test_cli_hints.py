"""What the command line tells a person: `fastflyer healthcheck` says what it checked also on
success; the `create_app` hint is a command that works when the path has spaces."""

from __future__ import annotations

import re
import subprocess

from tests.support import DEMO, free_port, run_cli, run_server


def test_healthcheck_says_what_it_checked_on_success():
    port = free_port()
    env = {"flyer_port": str(port)}
    failed = run_cli("healthcheck", env=env)
    assert failed.returncode == 1 and f"127.0.0.1:{port}/health_check unreachable" in failed.stderr
    with run_server(cwd=DEMO, port=port, env={"flyer_workers": "1"}):
        result = run_cli("healthcheck", env=env)
    assert result.returncode == 0
    assert re.fullmatch(rf"fastflyer healthcheck: http://127\.0\.0\.1:{port}/health_check "
                        r"answered 200 in \d+ ms: healthy\n", result.stdout), result.stdout


def test_create_app_hint_quotes_a_path_with_spaces(tmp_path):
    target = tmp_path / "my projects" / "shop's api"
    result = run_cli("create_app", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    hint = next(line for line in result.stdout.splitlines() if line.startswith("Next: "))
    command = hint.removeprefix("Next: ").split("   (")[0]
    assert command.endswith(" && ./start-reload.sh")
    cd = command.removesuffix(" && ./start-reload.sh")
    shown = subprocess.run(["bash", "-c", f"{cd} && pwd && test -x start-reload.sh"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert shown.returncode == 0, (hint, shown.stderr)
    assert shown.stdout.strip() == str(target)
