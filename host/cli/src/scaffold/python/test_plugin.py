"""The starter's test: builds {{name}}.wasm if needed and calls it through the real host
(`baton plugin call`), checking the answer. Run: python3 test_plugin.py
(`baton` must be on PATH, or name it with BATON=/path/to/baton)."""

import json
import os
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
WASM = os.path.join(HERE, "{{name}}.wasm")
BATON = os.environ.get("BATON", "baton")


def call(*args: str) -> dict:
    done = subprocess.run(
        [BATON, "plugin", "call", WASM, "--format", "json", *args],
        capture_output=True,
        text=True,
        cwd=HERE,
    )
    if not done.stdout.strip():
        raise AssertionError(f"baton plugin call failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)


class Test{{class}}(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(WASM):
            subprocess.run(["bash", os.path.join(HERE, "build.sh")], check=True)

{{tests}}

if __name__ == "__main__":
    unittest.main()
