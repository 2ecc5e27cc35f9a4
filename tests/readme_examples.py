"""The README's Examples section: its command lines, and the card outputs shown under them.

Each example in the README is a ``sh`` block whose last line is
``.venv/bin/cds-service evaluate examples/<file>.json --now <instant>``, followed by the output
block that command gives, in short (cards, buttons, ratings). Card text, uuids and extension
URLs change as the cards evolve, so the outputs are generated, not written by hand:

    .venv/bin/python -m tests.readme_examples              # rewrite the outputs in README.md
    .venv/bin/python -m tests.readme_examples --now 2027-01-15T09:00:00Z   # ... as of another date

``tests/test_readme_examples.py`` runs the same command lines and fails when the README shows
something else.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REGENERATE = ".venv/bin/python -m tests.readme_examples"
CLI = ".venv/bin/cds-service"

_EXAMPLE = re.compile(
    r"(?P<command>" + re.escape(CLI) + r" evaluate (?P<file>examples/[\w.-]+\.json)"
    r" --now (?P<now>\S+))\n```\n\n"
    r"<!-- example-output -->\n```text\n(?P<output>.*?)```\n<!-- /example-output -->",
    re.DOTALL,
)
_SECTION = re.compile(r"<!-- examples:start -->.*?<!-- examples:end -->", re.DOTALL)


@dataclass(frozen=True)
class Example:
    command: str  # the exact line in the README
    file: str  # examples/<name>.json
    now: str  # the --now instant
    output: str  # the output block shown under it
    span: tuple[int, int]  # where the output block's text is in the README


def examples(readme: str) -> list[Example]:
    """Every evaluate command line of the Examples section, with the output it shows."""
    return [
        Example(m["command"], m["file"], m["now"], m["output"], m.span("output"))
        for m in _EXAMPLE.finditer(readme)
    ]


def run(command: str, *, without_now: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a README command line from the repository root, as a user of this checkout would.

    ``.venv/bin/cds-service`` is the console script of the running interpreter (the checkout's
    own venv in CI); RADIX_* settings of the caller are left out so the answer is the defaults'.
    """
    argv = shlex.split(command)
    assert argv[0] == CLI, command
    argv[0] = str(Path(sys.executable).with_name("cds-service"))
    if without_now:
        at = argv.index("--now")
        del argv[at : at + 2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADIX_")}
    env["RADIX_LOG_LEVEL"] = "WARNING"
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def rating_of(resource: dict[str, Any]) -> str | None:
    """The Argonaut rating code, whichever base its URL has (``…/pama-rating``)."""
    for extension in resource.get("extension") or ():
        if str(extension.get("url", "")).endswith("/pama-rating"):
            codings = extension.get("valueCodeableConcept", {}).get("coding") or [{}]
            return codings[0].get("code")
    return None


def summarise(response: dict[str, Any]) -> str:
    """What the README shows of a response: cards, their buttons, and the order ratings."""
    lines: list[str] = []
    for card in response.get("cards", []):
        lines.append(f"card    {card['indicator']}: {card['summary']}")
        for suggestion in card.get("suggestions", []):
            recommended = " (recommended)" if suggestion.get("isRecommended") else ""
            lines.append(f"button  {suggestion['label']}{recommended}")
    if not response.get("cards"):
        lines.append("cards   none")
    for action in response.get("systemActions", []):
        resource = action.get("resource") or {}
        rating = rating_of(resource)
        if rating:
            lines.append(f"rating  {resource.get('resourceType')}/{resource.get('id')}: {rating}")
    return "\n".join(lines) + "\n"


def disposition(response: dict[str, Any]) -> tuple[Any, ...]:
    """What must not change with the date: dispositions, indicators, buttons' count, ratings."""
    cards = response.get("cards", [])
    return (
        [c["extension"]["org.radix-cds.assessment"]["disposition"] for c in cards],
        [c["indicator"] for c in cards],
        [len(c.get("suggestions", [])) for c in cards],
        [rating_of(a.get("resource") or {}) for a in response.get("systemActions", [])],
    )


def evaluated(example: Example, *, without_now: bool = False) -> dict[str, Any]:
    """The response the example's command line prints (or without its ``--now``)."""
    return orjson.loads(_printed(example.command, without_now))


@functools.cache
def _printed(command: str, without_now: bool) -> str:
    # Cached: the tests ask for the same few runs several times, and each start costs seconds.
    result = run(command, without_now=without_now)
    if result.returncode != 0:
        raise RuntimeError(f"{command} exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def rewrite(readme: str, now: str | None = None) -> str:
    """The README with every example output regenerated (and the date changed, if asked)."""
    if now is not None:
        section = _SECTION.search(readme)
        if section is None:
            raise SystemExit("README.md has no <!-- examples:start --> ... <!-- examples:end -->")
        old = {e.now for e in examples(section[0])}
        text = section[0]
        for instant in old:
            text = text.replace(instant, now)
        readme = readme[: section.start()] + text + readme[section.end() :]
    out, last = [], 0
    for example in examples(readme):
        start, end = example.span
        out += [readme[last:start], summarise(evaluated(example))]
        last = end
    out.append(readme[last:])
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.readme_examples", description=__doc__)
    parser.add_argument("--now", help="evaluate the examples as of this instant instead")
    args = parser.parse_args(argv)
    before = README.read_text(encoding="utf-8")
    if not examples(before):
        print("README.md shows no example outputs to rewrite", file=sys.stderr)
        return 1
    after = rewrite(before, args.now)
    README.write_text(after, encoding="utf-8")
    print("README.md example outputs " + ("rewritten" if after != before else "already current"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
