"""{{name}}: a Baton agent adapter written in Python (world `baton:plugin/agent@0.2.0`).

A session lives across prompts. The session class is `Session` in `agent_sessions.py`:
componentize-py looks for a resource's class in a module named after its interface
(`agent-sessions`), and build.sh checks that it is there.

Build:  ./build.sh                  (writes {{name}}.wasm)
Try:    baton plugin call {{name}}.wasm --input '{"prompt": "hello"}'
Test:   python3 test_plugin.py
"""

from wit_world import exports
from wit_world.imports.plugin_types import Capabilities, Description, PluginKind


class Metadata(exports.Metadata):
    def describe(self) -> Description:
        return Description(
            name="{{name}}",
            version="0.1.0",
            kind=PluginKind.AGENT,
            summary="Echoes each prompt with its turn number",
            # Wrap a real agent CLI with the `exec` import (ask for exec=["program"]) or call
            # an API over HTTP (ask for http=[...]); the operator grants it.
            capabilities=Capabilities(http=[], files=[], exec=[], env=[], state=False),
        )


class AgentSessions(exports.AgentSessions):
    pass
