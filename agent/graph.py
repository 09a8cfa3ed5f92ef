"""The agent's LangGraph state machine (one graph, two workflows: ``ask`` and ``brief``).

::

    START → load_context ─┬─(ask)──▶ [prefetch: run_tool ×N ─(found what the question names)─▶ compose]
                          │          [prefetch: run_tool ×N ─▶] plan ──(tool calls: Send fan-out)──▶ run_tool ×N ─┐
                          │           ▲  │                                              │
                          │           │  └──────────────────────────────────────────────┘
                          │           ├─(answer now)──────────────▶ verify
                          │           └─(no calls / budget out)─▶ compose ─▶ verify
                          │                                 verify ─(failures, once)─▶ repair ─▶ verify
                          │                                 verify ─(ok / repaired)──▶ finalize ─▶ END
                          └─(brief)─▶ brief ─▶ END
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from .context import AgentContext
from .nodes import (
    brief_node,
    compose,
    finalize,
    load_context,
    plan,
    repair,
    route_after_load,
    route_after_tools,
    route_plan,
    route_verify,
    run_tool,
    verify,
)
from .state import AgentState

__all__ = ["build_graph"]


def build_graph(checkpointer: Any = None) -> Any:
    """Compile the agent graph (with a checkpointer for multi-turn threads)."""
    g: StateGraph[AgentState, AgentContext, AgentState, AgentState] = StateGraph(
        AgentState, context_schema=AgentContext
    )
    g.add_node("load_context", load_context)
    g.add_node("plan", plan)
    g.add_node("run_tool", run_tool)  # type: ignore[call-overload]  # Send payload, not the state
    g.add_node("compose", compose)
    g.add_node("verify", verify)
    g.add_node("repair", repair)
    g.add_node("finalize", finalize)
    g.add_node("brief", brief_node)
    g.add_edge(START, "load_context")
    g.add_conditional_edges("load_context", route_after_load, ["plan", "brief", "run_tool"])
    g.add_conditional_edges("plan", route_plan, ["run_tool", "verify", "compose"])
    g.add_conditional_edges("run_tool", route_after_tools, ["plan", "compose", "finalize"])
    g.add_edge("compose", "verify")
    g.add_conditional_edges("verify", route_verify, ["repair", "finalize"])
    g.add_edge("repair", "verify")
    g.add_edge("finalize", END)
    g.add_edge("brief", END)
    return g.compile(checkpointer=checkpointer)
