// {{name}}: a Baton stage written in JavaScript (world `baton:plugin/stage@0.2.0`).
// It reads its inputs (read-only, under /inputs) and writes its outputs into a fresh
// directory (/output); it sees nothing else. Here: the line count of each input into
// `<input>.count`. Files go through wasi:filesystem, imported directly.
//
// Build:  ./build.sh        (or npm run build; writes {{name}}.wasm)
// Try:    baton plugin call {{name}}.wasm --stage-input notes.txt --output-dir out
// Test:   npm test
import * as baton from "./baton.js";
import { readText, writeText } from "./files.js";

export const metadata = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      kind: "stage",
      summary: "Counts the lines of each input into <input>.count",
      capabilities: { http: [], files: [], exec: [], env: [], state: false },
    };
  },
};

export const stageRunner = {
  run(context) {
    baton.jsonObject(context.params, "params"); // the stage's params, as an object
    const outputs = [];
    for (const input of context.inputs) {
      const text = readText(input.path);
      const lines = text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
      const name = `${input.name}.count`;
      writeText(`${context.outputDir}/${name}`, `${lines}\n`);
      outputs.push(name);
    }
    baton.info("counted", { inputs: outputs.length });
    return { summary: `counted ${outputs.length} input(s)`, outputs };
  },
};
