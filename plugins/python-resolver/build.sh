#!/usr/bin/env bash
# Builds the py-arxiv resolver (app.py) into a WASI 0.2 component with componentize-py.
#
#   usage: build.sh [OUTPUT]
#
# OUTPUT defaults to py-arxiv.wasm beside this script; a relative OUTPUT is taken from the
# current directory. The component targets world `resolver` of ../../wit
# (baton:plugin@0.2.0). componentize-py is installed with pip when it is missing.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wit="$here/../../wit"

die() { echo "build.sh: $*" >&2; exit 1; }

out="${1:-$here/py-arxiv.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

# Installs componentize-py with pip: into the current Python, or where that is refused
# (an externally managed system Python, PEP 668) into a venv kept in the user's cache.
install_componentize_py() {
    local spec="componentize-py==$COMPONENTIZE_PY_VERSION"
    local venv="${XDG_CACHE_HOME:-$HOME/.cache}/baton/componentize-py-$COMPONENTIZE_PY_VERSION"
    if [ -x "$venv/bin/componentize-py" ]; then
        PATH="$venv/bin:$PATH"
        return
    fi
    command -v python3 >/dev/null 2>&1 || die "componentize-py is missing and so is python3 to install it"
    if PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check "$spec" 2>/dev/null; then
        # pip may put the program in a scripts directory that is not on PATH (e.g. --user).
        PATH="$PATH:$(python3 -c 'import site, sysconfig
print(sysconfig.get_path("scripts") + ":" + site.getuserbase() + "/bin")')"
    else
        python3 -m venv "$venv" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" \
            || die "could not install $spec with pip"
        PATH="$venv/bin:$PATH"
    fi
}

if ! command -v componentize-py >/dev/null 2>&1; then
    install_componentize_py
    hash -r
    command -v componentize-py >/dev/null 2>&1 || die "componentize-py was installed but cannot be found on PATH"
fi

have="$(componentize-py --version | awk '{print $2}')"
[ "$have" = "$COMPONENTIZE_PY_VERSION" ] \
    || echo "build.sh: warning: using componentize-py $have, this script expects $COMPONENTIZE_PY_VERSION" >&2

[ -f "$wit/baton.wit" ] || die "no WIT package at $wit (expected baton.wit)"
[ -f "$here/app.py" ] || die "no app.py in $here"
mkdir -p "$(dirname "$out")" || die "cannot create the directory for $out"

# `app` is the module (app.py, found via -p); its `wit_world` bindings are generated on the
# fly. The build runs app.py's imports in the bundled CPython, which would leave a
# __pycache__ here: build from a scratch copy instead.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/app.py" "$work/"
RUST_LIB_BACKTRACE=0 componentize-py --quiet -d "$wit" -w resolver componentize -p "$work" -o "$out" app \
    || die "componentize-py could not build $out from app.py (see the error above)"

echo "built $out ($(wc -c <"$out") bytes)"
