"""Rewrite the flyer_* table in README.md from the settings model (the test checks they agree).

Usage: python3 tools/settings_table.py
"""

from __future__ import annotations

import re
from pathlib import Path

from fastflyer.settings import FlyerSettings, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"
IN_WORDS = {
    "app_root": "current directory (`/app` in the image)",
    "graceful_timeout": "`10` (`1` with reload)",
    "workers": "`auto`",
}


def shown_default(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None or value == [] or value == "":
        return "(unset)"
    return str(value)


def table() -> str:
    defaults = load_settings(app_root="/app").public_dict()
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in FlyerSettings.model_fields.items():
        default = IN_WORDS.get(name) or f"`{shown_default(defaults[name])}`"
        rows.append(f"| `flyer_{name}` | {default} | {field.description} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    text = README.read_text()
    new = re.sub(r"\| variable \| default \| meaning \|\n(\|.*\|\n)+", table(), text)
    README.write_text(new)


if __name__ == "__main__":
    main()
