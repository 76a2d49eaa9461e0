// {{name}}: a Baton resolver written in JavaScript (world `baton:plugin/resolver@0.2.0`).
// It turns an artifact into download candidates: here, the artifact id itself when it is an
// http(s) URL.
//
// Build:  ./build.sh        (or npm run build; writes {{name}}.wasm)
// Try:    baton plugin call {{name}}.wasm --input '{"id": "https://example.org/paper.pdf"}'
// Test:   npm test
import * as baton from "./baton.js";

export const metadata = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      kind: "resolver",
      summary: "Offers the artifact id as its URL when it is an http(s) URL",
      // Ask for what you need, e.g. http: ["https://api.example.org:443"]; the operator must
      // grant it in baton.toml ([plugins.NAME.grants]).
      capabilities: { http: [], files: [], exec: [], env: [], state: false },
    };
  },
};

export const resolution = {
  // May be `async` (e.g. to await fetch).
  resolve(request) {
    baton.payload(request); // the artifact's other fields, as an object
    const id = request.artifact.id;
    if (!/^https?:\/\//.test(id)) throw baton.skip(`\`${id}\` is not a URL`);
    baton.info("resolved", { id });
    return [{ url: id, contentType: undefined, score: 1, headers: [], note: "artifact id" }];
  },
};
