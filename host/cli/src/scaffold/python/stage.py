"""{{name}}: a Baton stage written in Python (world `baton:plugin/stage@0.2.0`).

It reads its inputs (read-only, under /inputs) and writes its outputs into a fresh directory
(/output); it sees nothing else. Here: the line count of each input into `<input>.count`.

Build:  ./build.sh                  (writes {{name}}.wasm)
Try:    baton plugin call {{name}}.wasm --stage-input notes.txt --output-dir out
Test:   python3 test_plugin.py
"""

import os

from wit_world import exports
from wit_world.imports.plugin_types import (
    Capabilities,
    Description,
    PluginKind,
    StageContext,
    StageOutcome,
)

import baton_helpers as baton


class Metadata(exports.Metadata):
    def describe(self) -> Description:
        return Description(
            name="{{name}}",
            version="0.1.0",
            kind=PluginKind.STAGE,
            summary="Counts the lines of each input into <input>.count",
            capabilities=Capabilities(http=[], files=[], exec=[], env=[], state=False),
        )


class StageRunner(exports.StageRunner):
    def run(self, context: StageContext) -> StageOutcome:
        baton.json_object(context.params, "params")  # the stage's params, as a dict
        outputs = []
        for item in context.inputs:
            try:
                with open(item.path, encoding="utf-8", errors="replace") as f:
                    lines = sum(1 for _ in f)
            except OSError as e:
                raise baton.fatal(f"cannot read {item.name}: {e}")
            name = f"{item.name}.count"
            with open(os.path.join(context.output_dir, name), "w") as f:
                f.write(f"{lines}\n")
            outputs.append(name)
        baton.info("counted", inputs=len(outputs))
        return StageOutcome(summary=f"counted {len(outputs)} input(s)", outputs=outputs)
