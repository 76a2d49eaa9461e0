#!/usr/bin/env bash
# Measures the json-schema stage against the official JSON Schema Test Suite, draft 2020-12:
# the `jsonschema` crate on its own, then the plugin through the real `baton` binary (one
# `baton plugin call` per case group, every case of the group a line of one JSON Lines
# input). Both print their rate; docs/benchmarks.md records them.
#
# The suite is downloaded into a temporary directory, removed on exit, never into the
# repository. It is the one on npm, `@json-schema-org/tests`, when npm can install it; that
# package carries no test files itself but names the suite's GitHub repository as a git
# dependency, which npm fetches from GitHub. Where GitHub cannot be reached (only the
# package registries can, on Baton's build machines), the same official suite is taken from
# the copy the Python `jsonschema` project ships in its source distribution on PyPI.
#
#     plugins/json-schema/conformance.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

suite=""
echo "== downloading the suite: npm @json-schema-org/tests@2.0.0"
if (cd "$work" && npm install --no-save --ignore-scripts --no-audit --no-fund \
        @json-schema-org/tests@2.0.0 >"$work/npm.log" 2>&1) \
    && [ -d "$work/node_modules/json-schema-test-suite/tests/draft2020-12" ]; then
    suite="$work/node_modules/json-schema-test-suite"
else
    echo "   npm could not install it (its suite is a git dependency on GitHub):"
    grep -m 3 -E 'error (code|command|ssh|fatal)|Could not' "$work/npm.log" | sed 's/^/     /' || true
    echo "== downloading the suite: the copy in PyPI's jsonschema 4.26.0 source distribution"
    python3 -m pip download --quiet --no-deps --no-binary :all: jsonschema==4.26.0 -d "$work/pypi"
    tar -xzf "$work/pypi/jsonschema-4.26.0.tar.gz" -C "$work"
    suite="$work/jsonschema-4.26.0/json"
fi
echo "   suite: $(find "$suite/tests/draft2020-12" -maxdepth 1 -name '*.json' | wc -l) files in $suite/tests/draft2020-12"
export JSON_SCHEMA_TEST_SUITE="$suite"

echo "== the jsonschema crate alone"
cargo test --manifest-path plugins/Cargo.toml -p json-schema --target-dir target/plugins \
    -- --ignored --nocapture the_library_passes_the_official_suite
echo "== through the plugin and the baton binary"
cargo test --test e2e -p baton -- --ignored --nocapture \
    json_schema_suite::official_suite_draft2020_12_through_the_plugin
