"""The `session` resource of {{name}} (interface `agent-sessions`): componentize-py finds a
resource's class in the module named after its interface, so this file must be called
`agent_sessions.py` and the class `Session`."""

import json
from typing import Self

from wit_world.exports import agent_sessions
from wit_world.imports.plugin_types import AgentReply, AgentRequest, SessionConfig

import baton_helpers as baton


class Session(agent_sessions.Session):
    def __init__(self, settings: dict, model: str | None):
        self.settings = settings
        self.model = model
        self.turns = 0

    @classmethod
    def open(cls, config: SessionConfig) -> Self:
        # A bad setting fails the session: raise baton.agent_fatal(...) / auth_failed(...).
        return cls(baton.settings(config.settings), config.model)

    def send(self, request: AgentRequest) -> AgentReply:
        options = baton.json_object(request.options, "options")
        if not request.prompt:
            raise baton.bad_request("the prompt is empty")
        self.turns += 1
        baton.debug("answering", turn=self.turns, options=len(options))
        return AgentReply(
            text=f"turn {self.turns}: {request.prompt}",
            usage=None,
            model=self.model,
            finish_reason="stop",
            data=json.dumps({"turn": self.turns}),
        )
