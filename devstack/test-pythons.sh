#!/usr/bin/env bash
# The unit tests on every supported Python found on this machine (3.11, 3.12, 3.13: on PATH as
# python3.X, or under pyenv), each in its own environment under .cache/pythons/<version>.
# A version that is not installed is reported and skipped; a failing one fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=.cache/tools/bin/uv
status=0
tested=()
for version in 3.11 3.12 3.13; do
    interpreter=""
    if command -v "python$version" >/dev/null && "python$version" -c pass 2>/dev/null; then
        interpreter=$(command -v "python$version")
    elif [ -x "${PYENV_ROOT:-$HOME/.pyenv}/bin/pyenv" ]; then
        prefix=$("${PYENV_ROOT:-$HOME/.pyenv}/bin/pyenv" prefix "$version" 2>/dev/null | head -1 || true)
        [ -n "$prefix" ] && [ -x "$prefix/bin/python$version" ] && interpreter="$prefix/bin/python$version"
    fi
    if [ -z "$interpreter" ]; then
        echo "== Python $version: not found, skipped"
        continue
    fi
    echo "== Python $version ($interpreter)"
    env="$PWD/.cache/pythons/$version"
    UV_PROJECT_ENVIRONMENT="$env" "$UV" sync --frozen --all-packages --quiet --python "$interpreter"
    if "$env/bin/python" -m pytest -q -p no:cacheprovider -m "not integration and not e2e"; then
        tested+=("$version")
    else
        status=1
        echo "== Python $version: unit tests FAILED"
    fi
done
echo "== unit tests passed on: ${tested[*]:-none}"
exit $status
