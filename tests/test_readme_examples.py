"""The README's Examples section works exactly as written, and shows what the commands print.

The ``cds-service evaluate`` lines are parsed out of the README and run as they stand; the
``curl`` lines are run against the service started as the README's set-up starts it.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
from asyncio.subprocess import PIPE
from pathlib import Path

import orjson
import pytest

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.examples import EXAMPLES, ROOT
from tests.live_server import serve
from tests.prerequisites import unavailable
from tests.readme_examples import (
    README,
    REGENERATE,
    disposition,
    evaluated,
    examples,
    rewrite,
    run,
    summarise,
)

TEXT = README.read_text(encoding="utf-8")
SHOWN = examples(TEXT)
STALE = (
    "The README's example outputs are not what `cds-service evaluate` prints: rewrite them with "
    f"`{REGENERATE}` (from the repository root) and review the diff."
)
_CURL = re.compile(r"^curl .*$", re.MULTILINE)


def test_the_readme_shows_every_example_once_at_one_date():
    files = [e.file for e in SHOWN]
    assert sorted(files) == sorted(f"examples/{name}.json" for name in EXAMPLES)
    assert len({e.now for e in SHOWN}) == 1
    assert f"`--now {SHOWN[0].now}`" in TEXT, "the prose states the date of the outputs"


@pytest.mark.parametrize("example", SHOWN, ids=lambda e: e.file)
def test_the_output_shown_is_what_the_command_prints(example):
    response = evaluated(example)
    assert summarise(response) == example.output, STALE


@pytest.mark.parametrize("example", SHOWN, ids=lambda e: e.file)
def test_without_now_the_command_gives_the_same_disposition(example):
    assert disposition(evaluated(example, without_now=True)) == disposition(evaluated(example))


def test_the_rewriter_changes_only_the_outputs(tmp_path: Path):
    broken = TEXT.replace(SHOWN[0].output, "card    info: something else\n", 1)
    assert broken != TEXT
    assert rewrite(broken) == TEXT  # the script restores exactly what the test expects


def test_a_failing_command_is_reported_not_shown():
    result = run(".venv/bin/cds-service evaluate examples/no-such-example.json --now 2026-12-01")
    assert result.returncode == 2 and "cannot read" in result.stderr


def _curl_lines() -> list[str]:
    lines = _CURL.findall(TEXT)
    assert len(lines) >= len(EXAMPLES)
    return lines


async def test_the_curl_lines_work_against_the_local_mode_service(tmp_path: Path):
    """The set-up's local mode (auth off, loopback allowed), then each curl line as written."""
    curl = shutil.which("curl")
    if curl is None:
        unavailable("curl is not installed (Debian package curl)")
    local = Settings(
        auth_required=False, fhir_allow_loopback=True, data_dir=tmp_path, log_level="WARNING"
    )
    answers: dict[str, dict] = {}
    async with serve(create_app(local)) as base_url:
        for line in _curl_lines():
            argv = shlex.split(line.replace("http://127.0.0.1:8080", base_url))
            assert argv[0] == "curl", line
            # Not subprocess.run: the server answering curl runs in this very event loop.
            process = await asyncio.create_subprocess_exec(
                curl, *argv[1:], cwd=ROOT, stdout=PIPE, stderr=PIPE
            )
            out, err = await asyncio.wait_for(process.communicate(), timeout=60)
            assert process.returncode == 0, err
            file = re.search(r"@(examples/\S+\.json)", line)
            assert file is not None, line
            answers[file[1]] = orjson.loads(out)
    assert sorted(answers) == sorted(e.file for e in SHOWN)
    for example in SHOWN:
        # The service answers as of now, like `evaluate` without --now.
        expected = disposition(evaluated(example, without_now=True))
        assert disposition(answers[example.file]) == expected, example.file
