#!/usr/bin/env bash
# Set up everything on a fresh machine: a virtual environment in .venv with the project installed
# editable, with the `test` extra and the `nbgrader` extra (the test suite runs nbgrader's own
# commands end to end; about 250 MB of the 1.4 GB environment, see the README). Safe to run again:
# it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,nbgrader]'
