#!/usr/bin/env bash
# Set up everything on a fresh machine: a virtual environment in .venv with the project installed
# (editable, with the test extras). Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,nbgrader]'
