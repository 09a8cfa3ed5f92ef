"""Structured output: clean the model's text, extract JSON, validate, and build repair prompts.

Every backend goes through :class:`SchemaSpec`: constrained decoding (llama.cpp grammar,
vLLM guided decoding) makes the first attempt valid in practice, and validate-and-repair
covers the rest (transformers, servers without ``response_format``, truncated output).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from ._types import Message, SchemaLike, TextPart

__all__ = [
    "OutputRejected",
    "SchemaSpec",
    "extract_json",
    "strip_code_fences",
    "strip_thinking",
]

# MedGemma 27B thinks between <unused94> and <unused95>; other models use <think>.
_THINKING = re.compile(r"<unused94>.*?(?:<unused95>|\Z)|<think>.*?(?:</think>|\Z)", re.DOTALL)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)


class OutputRejected(ValueError):
    """One attempt's output was not acceptable (internal: drives the repair loop)."""


def strip_thinking(text: str) -> str:
    """Remove thinking spans (``<unused94>…<unused95>``, ``<think>…</think>``).

    An unterminated span (the model ran out of tokens while thinking) is removed to the end.
    """
    return _THINKING.sub("", text).strip()


def strip_code_fences(text: str) -> str:
    """The content of the first ```` ``` ```` fence, or the text itself when there is none."""
    m = _FENCE.search(text)
    return m.group(1).strip() if m else text.strip()


def extract_json(text: str) -> Any:
    """Parse the JSON value in a model's answer.

    Strips thinking spans and code fences, then tries the whole text, then the first
    ``{``/``[`` from which a complete JSON value decodes (prose around it is ignored).

    Raises:
        OutputRejected: no JSON value could be found.
    """
    cleaned = strip_code_fences(strip_thinking(text))
    if not cleaned:
        raise OutputRejected("the answer is empty (no JSON after removing thinking/fences)")
    try:
        return orjson.loads(cleaned)
    except orjson.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\[{]", cleaned):
        try:
            value, _ = decoder.raw_decode(cleaned, m.start())
        except json.JSONDecodeError:
            continue
        return value
    opened = cleaned.lstrip()[:1] in "{["
    hint = " (it looks cut off: raise max_tokens)" if opened else ""
    raise OutputRejected(f"the answer is not valid JSON{hint}")


@dataclass(frozen=True)
class SchemaSpec:
    """A normalised schema: its JSON Schema, a name, and a validator.

    ``model`` is set for pydantic classes (validated with ``model_validate``); plain JSON
    Schema dicts are validated with ``jsonschema``.
    """

    json_schema: dict[str, Any]
    name: str
    model: type[BaseModel] | None = None

    @classmethod
    def of(cls, schema: SchemaLike) -> SchemaSpec:
        """Build from a pydantic model class or a JSON Schema dict."""
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return cls(schema.model_json_schema(), schema.__name__, schema)
        if isinstance(schema, dict):
            from jsonschema import validators

            validators.validator_for(schema).check_schema(schema)
            name = str(schema.get("title") or "answer")
            return cls(schema, re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "answer")
        raise TypeError(
            f"schema must be a pydantic model class or a JSON Schema dict, got {schema!r}"
        )

    @property
    def schema_text(self) -> str:
        """The JSON Schema as compact text for prompts."""
        return json.dumps(self.json_schema, separators=(",", ":"))

    def parse(self, text: str) -> Any:
        """Extract and validate the object in ``text``.

        Raises:
            OutputRejected: not JSON, or not valid against the schema (the reason says where).
        """
        value = extract_json(text)
        if self.model is not None:
            try:
                return self.model.model_validate(value)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                    for e in exc.errors()[:5]
                )
                raise OutputRejected(f"the JSON does not match the schema ({problems})") from None
        from jsonschema import validators

        validator = validators.validator_for(self.json_schema)(self.json_schema)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))[:5]
        if errors:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in errors
            )
            raise OutputRejected(f"the JSON does not match the schema ({problems})")
        return value

    def instruction(self) -> str:
        """The text that asks for JSON matching this schema (appended to the last user turn)."""
        return (
            "Answer with only a JSON object that matches this JSON Schema (no prose, no code "
            f"fences):\n{self.schema_text}"
        )

    def repair_messages(self, raw: str, reason: str) -> list[Message]:
        """The two turns appended after a rejected answer to ask for a corrected one."""
        return [
            Message.assistant(raw.strip() or "(empty)"),
            Message(
                "user",
                (
                    TextPart(
                        f"That answer was rejected: {reason}. Reply again with only the "
                        f"corrected JSON object matching this JSON Schema:\n{self.schema_text}"
                    ),
                ),
            ),
        ]


def with_instruction(messages: list[Message], spec: SchemaSpec) -> list[Message]:
    """Append the schema instruction to the last user message (or add a user turn)."""
    out = list(messages)
    for i in range(len(out) - 1, -1, -1):
        if out[i].role == "user":
            m = out[i]
            out[i] = Message("user", (*m.parts, TextPart(spec.instruction())))
            return out
    out.append(Message("user", (TextPart(spec.instruction()),)))
    return out
