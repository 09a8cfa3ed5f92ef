"""The agent: a LangGraph state machine that answers questions about one patient's FHIR
record with verified citations, and writes pre-visit briefs (see ``agent.graph``).

::

    from agent import ask, brief
    answer = await ask("Latest HbA1c?", patient_id=pid, source=store, model=model)
    print(answer.to_markdown())

Names are imported lazily, so ``import agent.models`` does not load LangGraph.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .answer import AnswerSentence, CitedAnswer, CitedResource, DroppedSentence, RunUsage
    from .context import AgentContext, AgentSettings
    from .graph import build_graph
    from .run import ask, brief, warm
    from .verify import verify_sentences

__all__ = [
    "AgentContext",
    "AgentSettings",
    "AnswerSentence",
    "CitedAnswer",
    "CitedResource",
    "DroppedSentence",
    "RunUsage",
    "ask",
    "brief",
    "build_graph",
    "verify_sentences",
    "warm",
]

_WHERE = {
    "AgentContext": "context",
    "AgentSettings": "context",
    "AnswerSentence": "answer",
    "CitedAnswer": "answer",
    "CitedResource": "answer",
    "DroppedSentence": "answer",
    "RunUsage": "answer",
    "ask": "run",
    "brief": "run",
    "build_graph": "graph",
    "verify_sentences": "verify",
    "warm": "run",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
