"""The ``fastflyer`` command: a thin layer that maps subcommands onto the settings model."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import NoReturn

from fastflyer import __version__
from fastflyer.settings import (
    FlyerSettings,
    SettingsError,
    internal_integration_notices,
    load_settings,
    use_settings,
)

EXIT_CONFIG_ERROR = 2


def _settings(**overrides: object) -> FlyerSettings:
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        _refuse(exc.lines)
    from fastflyer.server import unsupported

    if problems := unsupported(settings):  # valid values the chosen engine cannot honour
        _refuse(problems)
    use_settings(settings)
    return settings


def _refuse(lines: list[str]) -> NoReturn:
    for line in lines:
        print(f"fastflyer: invalid setting: {line}", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG_ERROR) from None


def _start_logging(settings: FlyerSettings) -> None:
    from fastflyer.observability.logs import configure_from_settings, logger

    configure_from_settings(settings)
    for notice in internal_integration_notices():
        logger.warning(notice)


def cmd_serve(args: argparse.Namespace, force_reload: bool = False) -> int:
    settings = _settings(**({"reload": True} if force_reload else {}))
    _start_logging(settings)
    from fastflyer.server import serve

    serve(settings)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    settings = _settings()
    from fastflyer.server.common import resolve_workers

    if args.explain:
        from fastflyer.server.explain import as_json, as_table, explain

        entries = explain(settings)
        print(as_json(entries) if args.format == "json" else as_table(entries))
        return 0
    data = settings.public_dict()
    workers, reason = resolve_workers(settings)
    data["workers_resolved"] = workers
    data["workers_decided_by"] = reason
    print(json.dumps(data, indent=2, sort_keys=True))
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    settings = _settings()
    from fastflyer.server.common import bind_address, display_host

    scheme, context = "http", None
    if settings.ssl_certfile is not None:
        import ssl

        # The probe asks this very service on loopback: the certificate names its public host.
        scheme, context = "https", ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    url = f"{scheme}://{bind_address(display_host(settings.host), settings.port)}{args.path}"
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=args.timeout,  # noqa: S310
                                    context=context) as response:
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"fastflyer healthcheck: {url} unreachable: {exc}", file=sys.stderr)
        return 1
    took = f"in {(time.monotonic() - started) * 1000:.0f} ms"
    if not ok:
        print(f"fastflyer healthcheck: {url} answered {response.status} {took}", file=sys.stderr)
        return 1
    # Also on success: `docker inspect` keeps the probe's output, so it says what was checked.
    print(f"fastflyer healthcheck: {url} answered 200 {took}: healthy")
    return 0


def cmd_create_app(args: argparse.Namespace) -> int:
    from fastflyer.scaffold import ScaffoldError, create_project

    try:
        target = create_project(Path(args.dir), name=args.name, prefix=args.prefix, force=args.force)
    except ScaffoldError as exc:
        print(f"fastflyer create_app: {exc}", file=sys.stderr)
        return 1
    print(f"Created a FastFlyer project in {target}")
    print(f"Next: cd {shlex.quote(str(target))} && ./start-reload.sh   (docs at http://127.0.0.1:8080"
          f"{(args.prefix or '/flyer').rstrip('/') or '/flyer'}/docs)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastflyer",
        description="FastFlyer: run and scaffold FastAPI services. Configure with flyer_* "
        "environment variables (see `fastflyer config`).",
    )
    parser.add_argument("--version", action="version", version=f"fastflyer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the production server (gunicorn + uvicorn workers)")
    serve.set_defaults(func=cmd_serve)
    dev = sub.add_parser("dev", help="run one hot-reloading server (development)")
    dev.set_defaults(func=lambda a: cmd_serve(a, force_reload=True))
    config = sub.add_parser("config", help="print the resolved settings as JSON (secrets masked)")
    config.add_argument("--explain", action="store_true",
                        help="every setting with its value and where it came from")
    config.add_argument("--format", choices=("table", "json"), default="table",
                        help="with --explain: a table (default) or JSON")
    config.set_defaults(func=cmd_config)
    health = sub.add_parser("healthcheck", help="exit 0 when the local service is healthy")
    health.add_argument("--path", default="/health_check", help="path to probe")
    health.add_argument("--timeout", type=float, default=3.0, help="seconds to wait")
    health.set_defaults(func=cmd_healthcheck)
    create = sub.add_parser("create_app", aliases=["create-app"],
                            help="scaffold a new project in the seed's layout")
    create.add_argument("dir", nargs="?", default=".", help="target directory (default: .)")
    create.add_argument("--name", help="service name (docs title)")
    create.add_argument("--prefix", help="URL prefix of the routes (flyer_base_url), e.g. /orders")
    create.add_argument("--force", action="store_true", help="overwrite an existing project")
    create.set_defaults(func=cmd_create_app)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
