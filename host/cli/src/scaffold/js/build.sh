#!/usr/bin/env bash
# Builds {{name}} (app.js and the modules it imports) into {{name}}.wasm, a WASI 0.2
# component of world `{{world}}` of wit/ (baton:plugin@0.2.0), with componentize-js.
#
#   usage: ./build.sh [OUTPUT]          (npm run build does the same)
#
# Needs Node.js 18 or newer with npm. componentize-js {{componentize_js}} is installed with
# npm when it is missing: into ./node_modules, or into ${BATON_TOOLS_DIR} when that is set
# (one copy shared by several plugins). Not `jco componentize`: it fails on this WIT folder.
set -euo pipefail

COMPONENTIZE_JS_VERSION={{componentize_js}}
WORLD={{world}}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/{{name}}.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

die() { echo "build.sh: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is missing: install Node.js 18 or newer (with npm)"
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 18 ] || die "Node.js $major is too old: componentize-js needs 18 or newer"

if [ -n "${BATON_TOOLS_DIR:-}" ]; then
    prefix="$BATON_TOOLS_DIR/componentize-js-$COMPONENTIZE_JS_VERSION"
else
    prefix="$here"
fi
tool="$prefix/node_modules/.bin/componentize-js"
if [ ! -x "$tool" ]; then
    command -v npm >/dev/null 2>&1 || die "componentize-js is missing and so is npm to install it: run npm install @bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION"
    echo "build.sh: installing @bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION with npm into $prefix" >&2
    mkdir -p "$prefix"
    if [ "$prefix" = "$here" ]; then
        (cd "$here" && npm install --no-audit --no-fund --loglevel=error) \
            || die "npm install failed (offline? see above)"
    else
        npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
            "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" \
            || die "npm install failed (offline? see above)"
    fi
    [ -x "$tool" ] || die "componentize-js was installed but $tool is missing"
fi

[ -f "$here/wit/baton.wit" ] || die "no WIT at $here/wit (expected baton.wit and deps/): copy it from Baton's repository (wit/)"
[ -f "$here/app.js" ] || die "no app.js in $here: the plugin's exports live in app.js"
mkdir -p "$(dirname "$out")" || die "cannot create the directory for $out"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd "$here" && "$tool" app.js --wit wit --world-name "$WORLD" -o "$out") >"$log" 2>&1; then
    reason="$(grep -E 'Error|error' "$log" | head -n 1 || true)"
    cat "$log" >&2
    die "componentize-js could not build $out: ${reason:-see the output above}"
fi
echo "built $out ($(wc -c <"$out") bytes)"
