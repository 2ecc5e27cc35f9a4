"""Read a Dockerfile and carry out its stages outside a container, for the image tests.

No container engine runs on the machines this project is tested on, so the image's own
instructions are run here instead: every container path is placed under a scratch ``root``
folder, RUN lines go to ``/bin/sh -c`` with the stage's environment, COPY copies from the build
context as ``.dockerignore`` filters it (or from the scratch root, for ``--from``). What cannot be
reproduced outside a container (the base image's contents, ``--chown``, ``USER``) is recorded
for the tests to check instead of being carried out.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    arguments: str  # the text after the keyword, continuation lines joined
    line: int

    def flags(self) -> tuple[dict[str, str], str]:
        """Leading ``--name=value`` flags, and the rest of the arguments."""
        flags: dict[str, str] = {}
        rest = self.arguments
        while rest.startswith("--"):
            word, _, rest = rest.partition(" ")
            name, _, value = word[2:].partition("=")
            flags[name] = value
            rest = rest.lstrip()
        return flags, rest

    def exec_form(self) -> list[str]:
        """The JSON array form of CMD, ENTRYPOINT and HEALTHCHECK's CMD."""
        _, rest = self.flags()
        if self.keyword == "HEALTHCHECK":
            assert rest.startswith("CMD "), f"line {self.line}: HEALTHCHECK without CMD"
            rest = rest[4:]
        value = json.loads(rest)
        assert isinstance(value, list), f"line {self.line}: {self.keyword} is not in exec form"
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, each with its instructions in order."""
    stages: list[Stage] = []
    for instruction in _instructions(path.read_text()):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"line {instruction.line}: {instruction.keyword} before FROM"
            stages[-1].instructions.append(instruction)
    return stages


def _instructions(text: str) -> Iterator[Instruction]:
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue  # comments and parser directives
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        joined = " ".join(part for part in pending if part)
        pending = []
        keyword, _, arguments = joined.partition(" ")
        yield Instruction(keyword.upper(), arguments.strip(), start)


def expand(text: str, env: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` from ``env`` (unset: empty), as Docker expands ENV and COPY."""
    return _VARIABLE.sub(lambda m: env.get(m["braced"] or m["bare"], ""), text)


def env_pairs(arguments: str) -> list[tuple[str, str]]:
    """``ENV a=1 b="x y"`` as pairs (the legacy ``ENV a 1`` form is not used here)."""
    pairs = []
    for word in shlex.split(arguments, posix=True):
        name, sep, value = word.partition("=")
        assert sep, f"ENV {arguments!r}: only the name=value form is supported"
        pairs.append((name, value))
    return pairs


# --- .dockerignore -----------------------------------------------------------------------------


def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus ``**``) as a regular expression."""
    out = ""
    index = 0
    while index < len(text):
        if text.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif text.startswith("**", index):
            out += ".*"
            index += 2
        elif text[index] == "*":
            out += "[^/]*"
            index += 1
        elif text[index] == "?":
            out += "[^/]"
            index += 1
        elif text[index] == "[":
            close = text.index("]", index)
            out += "[" + text[index + 1 : close].replace("^", "\\^", 1) + "]"
            index = close + 1
        else:
            out += re.escape(text[index])
            index += 1
    return re.compile(out)


@dataclass(frozen=True)
class DockerIgnore:
    """Docker's rules: patterns in order, the last that matches a path or a parent of it wins."""

    rules: tuple[tuple[bool, re.Pattern[str]], ...]

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        rules = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            text = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            rules.append((include, _pattern(text)))
        return cls(tuple(rules))

    def excluded(self, relative: str) -> bool:
        parts = relative.strip("/").split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for include, pattern in self.rules:
            if any(pattern.fullmatch(candidate) for candidate in candidates):
                excluded = not include
        return excluded


# --- running a stage ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a stage left: its environment, working directory, user and declarations."""

    env: dict[str, str]
    workdir: str
    user: str | None = None
    volumes: list[str] = field(default_factory=list)


@dataclass
class Runner:
    """Carries out stages with every container path under ``root``."""

    root: Path
    context: Path
    ignore: DockerIgnore
    stage_names: dict[str, str] = field(default_factory=dict)

    def host(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def run(self, stage: Stage, base_env: Mapping[str, str]) -> Outcome:
        outcome = Outcome(dict(base_env), "/")
        for instruction in stage.instructions:
            handler = getattr(self, "_" + instruction.keyword.lower(), None)
            if handler is not None:
                handler(instruction, outcome)
        return outcome

    def _env(self, instruction: Instruction, outcome: Outcome) -> None:
        before = dict(outcome.env)  # Docker expands one ENV's values from before it
        for name, value in env_pairs(instruction.arguments):
            expanded = expand(value, before)
            # A literal absolute path in the image is a path under the scratch root here.
            if "$" not in value and value.startswith("/") and ":" not in value:
                expanded = str(self.host(value))
            outcome.env[name] = expanded

    def _workdir(self, instruction: Instruction, outcome: Outcome) -> None:
        path = expand(instruction.arguments, outcome.env)
        outcome.workdir = path if path.startswith("/") else f"{outcome.workdir}/{path}"
        self.host(outcome.workdir).mkdir(parents=True, exist_ok=True)

    def _user(self, instruction: Instruction, outcome: Outcome) -> None:
        outcome.user = instruction.arguments

    def _volume(self, instruction: Instruction, outcome: Outcome) -> None:
        outcome.volumes.extend(json.loads(instruction.arguments))

    def _run(self, instruction: Instruction, outcome: Outcome) -> None:
        _, command = instruction.flags()  # --mount=type=cache: the host's pip cache serves
        done = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=self.host(outcome.workdir),
            env=outcome.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, (
            f"Dockerfile line {instruction.line}: RUN {command}\n"
            f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )

    def _copy(self, instruction: Instruction, outcome: Outcome) -> None:
        flags, rest = instruction.flags()
        words = [expand(w, outcome.env) for w in rest.split()]
        *sources, destination = words
        if not destination.startswith("/"):
            destination = f"{outcome.workdir}/{destination}"
        target = self.host(destination)
        for source in sources:
            if "from" in flags:
                assert source.startswith("/"), f"line {instruction.line}: --from needs a path"
                origin = self.host(source)
                if origin.resolve() == target.resolve():
                    continue  # one scratch root for every stage: already in place
                self._copy_path(origin, target, destination.endswith("/"), None)
            else:
                origin = self.context / source
                self._copy_path(origin, target, destination.endswith("/"), source.rstrip("/"))

    def _copy_path(self, origin: Path, target: Path, into: bool, relative: str | None) -> None:
        if origin.is_dir():
            # A directory's contents are copied, not the directory itself.
            target.mkdir(parents=True, exist_ok=True)
            for path in sorted(origin.rglob("*")):
                inner = path.relative_to(origin).as_posix()
                if relative is not None and self.ignore.excluded(f"{relative}/{inner}"):
                    continue
                if path.is_dir():
                    (target / inner).mkdir(parents=True, exist_ok=True)
                else:
                    (target / inner).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / inner)
            return
        assert origin.is_file(), f"COPY: {origin} does not exist"
        if relative is not None:
            assert not self.ignore.excluded(relative), f"COPY {relative}: .dockerignore drops it"
        final = target / origin.name if into else target
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, final)
