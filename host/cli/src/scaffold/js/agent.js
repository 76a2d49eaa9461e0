// {{name}}: a Baton agent adapter written in JavaScript (world `baton:plugin/agent@0.2.0`).
// A session lives across prompts: the exported `agentSessions.Session` class is the WIT
// `session` resource (`static open(config)`, then `send(request)` per prompt).
//
// Build:  ./build.sh        (or npm run build; writes {{name}}.wasm)
// Try:    baton plugin call {{name}}.wasm --input '{"prompt": "hello"}'
// Test:   npm test
import * as baton from "./baton.js";

export const metadata = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      kind: "agent",
      summary: "Echoes each prompt with its turn number",
      // Wrap a real agent CLI with the `exec` import (ask for exec: ["program"]) or call an
      // API with fetch (ask for http: [...]); the operator grants it.
      capabilities: { http: [], files: [], exec: [], env: [], state: false },
    };
  },
};

class Session {
  constructor(settings, model) {
    this.settings = settings;
    this.model = model;
    this.turns = 0;
  }

  // A bad setting fails the session: throw baton.agentFatal(...) / baton.authFailed(...).
  static open(config) {
    return new Session(baton.settings(config.settings), config.model);
  }

  send(request) {
    const options = baton.jsonObject(request.options, "options");
    if (!request.prompt) throw baton.badRequest("the prompt is empty");
    this.turns += 1;
    baton.debug("answering", { turn: this.turns, options: Object.keys(options).length });
    return {
      text: `turn ${this.turns}: ${request.prompt}`,
      usage: undefined,
      model: this.model,
      finishReason: "stop",
      data: JSON.stringify({ turn: this.turns }),
    };
  }
}

export const agentSessions = { Session };
