"""py-arxiv: a Baton resolver written in Python (world `baton:plugin/resolver`).

It maps an arXiv id to the PDF on arXiv. Built into a WASI 0.2 component by
componentize-py (see build.sh); the `wit_world` package is generated at build time.
"""

import json
import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.plugin_types import (
    Candidate,
    Capabilities,
    Description,
    Failure_Fatal,
    Field,
    PluginKind,
    ResolveRequest,
)

DEFAULT_BASE_URL = "https://arxiv.org"

# New-style ids (YYMM.NNNN or YYMM.NNNNN) and old-style ones (archive[.XX]/YYMMNNN),
# each with an optional version suffix, e.g. 2101.00001v2 or hep-th/9901001.
ARXIV_ID = re.compile(
    r"(?:\d{2}(?:0[1-9]|1[0-2])\.\d{4,5}|[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?"
)


def arxiv_id(text: str) -> str | None:
    """The arXiv id in `text` (an optional `arXiv:` prefix is dropped), or None."""
    text = text.strip()
    if text[:6].lower() == "arxiv:":
        text = text[6:]
    return text if ARXIV_ID.fullmatch(text) else None


def fatal(message: str) -> Err[Failure_Fatal]:
    """The error that ends the job as failed: raising Err is how a WIT `result` fails."""
    return Err(Failure_Fatal(message))


def json_object(text: str, what: str) -> dict[str, object]:
    """Parses the JSON object the host sends as text; empty text means no fields."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise fatal(f"{what} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise fatal(f"{what} is not a JSON object")
    return value


class Metadata(exports.Metadata):
    def describe(self) -> Description:
        return Description(
            name="py-arxiv",
            version="0.1.0",
            kind=PluginKind.RESOLVER,
            summary="arXiv ids to arxiv.org PDFs (a resolver written in Python)",
            capabilities=Capabilities(http=[], files=[], exec=[], env=[], state=False),
        )


class Resolution(exports.Resolution):
    def resolve(self, request: ResolveRequest) -> list[Candidate]:
        artifact = request.artifact
        payload = json_object(artifact.payload, "payload")
        settings = json_object(request.settings, "settings")

        # The artifact id itself, else the payload's `arxiv` field.
        from_payload = payload.get("arxiv")
        found = arxiv_id(artifact.id) or (
            arxiv_id(from_payload) if isinstance(from_payload, str) else None
        )
        if found is None:
            named = repr(artifact.id)
            if from_payload is not None:
                named += f" (payload arxiv {from_payload!r})"
            raise fatal(f"not an arXiv id: {named}")

        base_url = settings.get("base-url") or DEFAULT_BASE_URL
        if not isinstance(base_url, str):
            raise fatal("settings: base-url must be a string")

        log.emit(log.Level.INFO, "resolved arXiv id", [Field(key="id", value=found)])
        return [
            Candidate(
                url=f"{base_url.rstrip('/')}/pdf/{found}",
                content_type="application/pdf",
                score=100,
                headers=[],
                note="arxiv id",
            )
        ]
