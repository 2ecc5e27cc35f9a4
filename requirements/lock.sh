#!/usr/bin/env bash
# Re-resolve the lock files from pyproject.toml's ranges: exact versions, every file's SHA-256.
# Needs uv (`pip install uv`); run it after changing a dependency in pyproject.toml, then commit
# the three files. tests/test_locks.py fails while a lock is out of step with pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
compile=(uv pip compile --quiet --no-config --universal --python-version 3.11 --generate-hashes
         --custom-compile-command "requirements/lock.sh")
# What ships: the image and `pip install --require-hashes -r requirements/runtime.txt`.
"${compile[@]}" pyproject.toml -o requirements/runtime.txt
# What CI and developers test with: the runtime pins plus the test extra.
"${compile[@]}" pyproject.toml --extra test -o requirements/test.txt
# What builds the wheel in the image (pyproject.toml's [build-system] requires).
"${compile[@]}" requirements/build.in -o requirements/build.txt
