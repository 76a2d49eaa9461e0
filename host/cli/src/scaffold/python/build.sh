#!/usr/bin/env bash
# Builds {{name}} (app.py and the modules beside it) into {{name}}.wasm, a WASI 0.2 component
# of world `{{world}}` of wit/ (baton:plugin@0.2.0), with componentize-py.
#
#   usage: ./build.sh [OUTPUT]
#
# Needs python3 (3.10 or newer). componentize-py {{componentize_py}} is installed with pip when
# it is missing: into the current Python, or where that is refused (an externally managed
# system Python) into a venv under ${BATON_TOOLS_DIR:-~/.cache/baton}.
set -euo pipefail

COMPONENTIZE_PY_VERSION={{componentize_py}}
WORLD={{world}}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/{{name}}.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

die() { echo "build.sh: $*" >&2; exit 1; }

install_componentize_py() {
    local spec="componentize-py==$COMPONENTIZE_PY_VERSION"
    local venv="${BATON_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/baton}/componentize-py-$COMPONENTIZE_PY_VERSION"
    if [ -x "$venv/bin/componentize-py" ]; then
        PATH="$venv/bin:$PATH"
        return
    fi
    command -v python3 >/dev/null 2>&1 || die "componentize-py is missing and so is python3 to install it: install Python 3.10+ and run: pip install $spec"
    echo "build.sh: installing $spec with pip" >&2
    if [ -z "${BATON_TOOLS_DIR:-}" ] && PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check "$spec" 2>/dev/null; then
        PATH="$PATH:$(python3 -c 'import site, sysconfig
print(sysconfig.get_path("scripts") + ":" + site.getuserbase() + "/bin")')"
    else
        python3 -m venv "$venv" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" \
            || die "could not install $spec with pip (offline? install it by hand: pip install $spec)"
        PATH="$venv/bin:$PATH"
    fi
}

if ! command -v componentize-py >/dev/null 2>&1; then
    install_componentize_py
    hash -r
    command -v componentize-py >/dev/null 2>&1 || die "componentize-py was installed but is not on PATH"
fi
have="$(componentize-py --version | awk '{print $2}')"
[ "$have" = "$COMPONENTIZE_PY_VERSION" ] \
    || echo "build.sh: warning: using componentize-py $have; this starter was made for $COMPONENTIZE_PY_VERSION" >&2

# The layout componentize-py expects, checked before it runs: the exported interfaces are
# classes in app.py; a resource (the agent's `session`) is a class in a module named after
# its interface.
[ -f "$here/wit/baton.wit" ] || die "no WIT at $here/wit (expected baton.wit and deps/): copy it from Baton's repository (wit/)"
[ -f "$here/app.py" ] || die "no app.py in $here: the plugin's exports live in app.py"
if [ "$WORLD" = agent ]; then
    if [ ! -f "$here/agent_sessions.py" ]; then
        if grep -q '^class Session\b' "$here/app.py"; then
            die "class Session is in app.py, but componentize-py looks for the session resource in agent_sessions.py (the module named after interface agent-sessions): move it there"
        fi
        die "no agent_sessions.py: the session resource must be class Session in agent_sessions.py (the module named after interface agent-sessions)"
    fi
    grep -q '^class Session\b' "$here/agent_sessions.py" \
        || die "agent_sessions.py has no top-level class Session: the session resource must be class Session in agent_sessions.py"
fi
mkdir -p "$(dirname "$out")" || die "cannot create the directory for $out"

# Builds from a scratch copy: componentize-py runs the imports, which would leave __pycache__.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here"/*.py "$work/"
rm -f "$work"/test_*.py
if ! RUST_LIB_BACKTRACE=0 RUST_BACKTRACE=0 componentize-py -d "$here/wit" -w "$WORLD" componentize -p "$work" -o "$out" app 2>"$work/errors.txt"; then
    # componentize-py prints a long trace; the Python error (or its own) is the last line
    # that names one. Say that first, then the whole output.
    reason="$(grep -E '^[A-Za-z_.]*(Error|Exception)\b|^error:|^Error:' "$work/errors.txt" | tail -n 1 || true)"
    cat "$work/errors.txt" >&2
    die "componentize-py could not build $out: ${reason:-see the output above}"
fi
echo "built $out ($(wc -c <"$out") bytes)"
