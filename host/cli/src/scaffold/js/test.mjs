// The starter's test: builds {{name}}.wasm if needed and calls it through the real host
// (`baton plugin call`), checking the answer. Run: npm test
// (`baton` must be on PATH, or name it with BATON=/path/to/baton).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const wasm = join(here, "{{name}}.wasm");
const baton = process.env.BATON ?? "baton";

function call(...args) {
  const done = spawnSync(baton, ["plugin", "call", wasm, "--format", "json", ...args], {
    cwd: here,
    encoding: "utf8",
  });
  if (!done.stdout || !done.stdout.trim()) {
    throw new Error(`baton plugin call failed (${done.status}): ${done.stderr}`);
  }
  return JSON.parse(done.stdout);
}

before(() => {
  if (!existsSync(wasm)) {
    const built = spawnSync("bash", [join(here, "build.sh")], { stdio: "inherit" });
    assert.equal(built.status, 0, "build.sh failed");
  }
});

{{tests}}
