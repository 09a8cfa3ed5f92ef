"""The agent layer's part of the project's one exception tree.

Everything here extends :class:`tools.errors.AssistantError`, so a surface that catches
``AssistantError`` also catches model failures. Bad deployment files raise
:class:`tools.errors.ConfigError` (with the file and the field in the message);
:class:`UnsafeEndpoint` is the one configuration error the agent layer adds.

::

    AssistantError                         (tools.errors)
    ├── ConfigError                        (tools.errors) bad or unsafe configuration
    │   └── UnsafeEndpoint                 a model endpoint that would send data off the premises
    └── ModelError                         anything a chat model backend raises
        ├── ModelLoadError                 weights / GGUF / runtime missing or unloadable
        │                                  (says what to install or where to put the file)
        ├── BackendUnreachable             no answer at all from a model server (refused, DNS)
        ├── ModelTimeout                   the model did not finish within the time limit
        ├── ContextOverflow                prompt + max_tokens larger than the context window
        │                                  (.prompt_tokens, .max_tokens, .limit)
        ├── UnsupportedInput               e.g. an image sent to a text-only model
        ├── BackendHTTPError               the model server answered with an error status
        │                                  (.status, .url, .body)
        ├── BackendProtocolError           the server's answer is not an OpenAI-style reply
        └── MalformedOutput                the model's text is not parseable / schema-valid
                                           after the bounded repair retries (.raw, .attempts)

    AgentError                             the agent's graph (agent.graph / agent.run)
    ├── ToolCallError                      a model tool call that cannot run (unknown tool,
    │   │                                  bad arguments); sent back to the model as text
    │   └── ToolCallRefused                a call naming another patient / leaving the
    │                                      session patient's compartment (refused in code)
    ├── AgentSourceFailed                  the record source failed mid-run (.thread_id,
    │                                      the checkpointed thread can be retried)
    ├── ThreadStoreError                   the encrypted threads database cannot be read:
    │                                      another key, or an unusable key (.db, .key_source)
    └── IntakeError                        the pre-visit intake (agent.intake)
        ├── ConsentRefused                 the patient declined (or gave no) consent to the
        │                                  interview; nothing beyond the consent was read
        ├── IntakeNotFound                 no intake thread with that id (.thread_id)
        └── IntakeStateError               the request does not fit the intake's state
                                           (answering a finished interview, another patient)

Messages say what failed, where (model, file or URL) and what to do next.
"""

from __future__ import annotations

from pathlib import Path

from tools.errors import AssistantError, ConfigError

__all__ = [
    "AgentError",
    "AgentSourceFailed",
    "BackendHTTPError",
    "BackendProtocolError",
    "BackendUnreachable",
    "ConsentRefused",
    "ContextOverflow",
    "IntakeError",
    "IntakeNotFound",
    "IntakeStateError",
    "MalformedOutput",
    "ModelError",
    "ModelLoadError",
    "ModelTimeout",
    "ThreadStoreError",
    "ToolCallError",
    "ToolCallRefused",
    "UnsafeEndpoint",
    "UnsupportedInput",
]


class UnsafeEndpoint(ConfigError):
    """A model endpoint whose host is neither loopback nor explicitly allowed.

    Patient data goes to the model in every prompt; an endpoint off this machine must be
    named on purpose (``allowed_hosts``), never reached by a typo or a copied config.
    """

    def __init__(self, url: str, host: str, where: str = "") -> None:
        at = f" ({where})" if where else ""
        super().__init__(
            f"Refusing model endpoint {url}{at}: host {host!r} is not a loopback address "
            "(127.0.0.0/8, ::1, localhost) and is not listed in this config's "
            "`allowed_hosts`. Patient data is sent to the model with every prompt; if this "
            f'host is your on-premises model server, add allowed_hosts = ["{host}"] to the '
            "[model] table of this deployment file."
        )
        self.url = url
        self.host = host


class ModelError(AssistantError):
    """Root of every error a chat model backend raises."""


class ModelLoadError(ModelError):
    """The model (weights, GGUF file, processor) or its runtime could not be loaded."""


class BackendUnreachable(ModelError):
    """No answer at all from a model server: connection refused, DNS or TLS failure."""

    def __init__(self, url: str, cause: BaseException | str) -> None:
        super().__init__(
            f"Cannot reach the model server at {url} ({cause or type(cause).__name__}). "
            "Check that the server is running and that [model] base_url in the deployment "
            "file points at it."
        )
        self.url = url


class ModelTimeout(ModelError):
    """The model did not finish within the configured time."""

    def __init__(self, what: str, seconds: float, hint: str = "") -> None:
        super().__init__(
            f"{what} did not finish within {seconds:g} s. "
            + (
                hint
                or "Raise [model] timeout_s, lower max_tokens, or check the model server's load."
            )
        )
        self.seconds = seconds


class ContextOverflow(ModelError):
    """The prompt plus the tokens asked for do not fit the model's context window."""

    def __init__(
        self, prompt_tokens: int | None, max_tokens: int | None, limit: int | None, model: str = ""
    ) -> None:
        who = f" of {model}" if model else ""
        if prompt_tokens is not None and limit is not None:
            need = prompt_tokens + (max_tokens or 0)
            detail = (
                f"the prompt has {prompt_tokens} tokens and {max_tokens or 0} more were asked for "
                f"({need} in all), but the context window{who} holds {limit}"
            )
        else:
            detail = f"the prompt is longer than the context window{who}"
        super().__init__(
            f"Context overflow: {detail}. Shorten the record summary (a smaller token budget), "
            "lower max_tokens, or raise n_ctx / the server's context length."
        )
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.limit = limit


class UnsupportedInput(ModelError):
    """The request uses something this backend or model cannot take (e.g. images)."""


class BackendHTTPError(ModelError):
    """The model server answered with an HTTP error status."""

    def __init__(self, status: int, url: str, body: str = "", hint: str = "") -> None:
        detail = body.strip()[:400]
        super().__init__(
            f"Model server returned HTTP {status} for POST {url}"
            + (f": {detail}" if detail else "")
            + ". "
            + (hint or "Check the server's log and the [model] settings (model name, API key).")
        )
        self.status = status
        self.url = url
        self.body = body


class BackendProtocolError(ModelError):
    """The server's answer is not an OpenAI-compatible chat completion."""


class MalformedOutput(ModelError):
    """The model's answer could not be parsed or validated, even after repair retries.

    Attributes:
        raw: the model's last raw text (thinking spans included), for logs and debugging.
        attempts: how many model calls were made (1 + repair retries).
        reason: why the last attempt was rejected.
    """

    def __init__(self, reason: str, raw: str, attempts: int, model: str = "") -> None:
        who = f" from {model}" if model else ""
        snippet = raw.strip().replace("\n", " ")
        if len(snippet) > 200:
            snippet = snippet[:200] + "…"
        super().__init__(
            f"Malformed model output{who} after {attempts} attempt(s): {reason}. "
            f"Last output: {snippet!r}. Try a larger max_tokens, a lower temperature, or a "
            "backend with constrained decoding (llama.cpp grammar, vLLM guided decoding)."
        )
        self.reason = reason
        self.raw = raw
        self.attempts = attempts


class AgentError(AssistantError):
    """Root of the errors the agent graph raises (not the model backends)."""


class ToolCallError(AgentError):
    """A tool call of the model that cannot run; its message goes back to the model."""


class ToolCallRefused(ToolCallError):
    """A tool call that names another patient or escapes the session's compartment."""


class AgentSourceFailed(AgentError):
    """The record source failed while the agent ran; the thread's state is kept.

    Attributes:
        patient_id: the session's patient.
        thread_id: the checkpointed thread (retry the same question with it), if any.
    """

    def __init__(self, patient_id: str, thread_id: str | None, cause: BaseException) -> None:
        retry = (
            f" The thread {thread_id!r} was checkpointed; ask again with the same thread id "
            "to retry."
            if thread_id
            else " Retry when the source is back."
        )
        super().__init__(
            f"The record source failed while answering for Patient/{patient_id}: {cause}.{retry}"
        )
        self.patient_id = patient_id
        self.thread_id = thread_id
        self.cause = cause


class ThreadStoreError(AgentError):
    """The threads database (encrypted checkpoints) cannot be used with the key in use.

    Attributes:
        db: the threads database, if known.
        key_source: where the key came from (an environment variable or the key file).
    """

    def __init__(self, message: str, db: Path | None = None, key_source: str = "") -> None:
        super().__init__(message)
        self.db = db
        self.key_source = key_source

    @classmethod
    def unreadable(cls, db: Path, key_source: str, detail: str = "") -> ThreadStoreError:
        """A database written with another key than the one from ``key_source``."""
        what = detail or "its checkpoints were encrypted with another key"
        return cls(
            f"Cannot read the threads database {db} with the key from {key_source}: {what}. "
            "The key is taken from $FHIR_ASSISTANT_THREADS_KEY, else $LANGGRAPH_AES_KEY, else "
            f"the key file {db.with_suffix('.key')}. Set the key these threads were written "
            "with, or use another threads database ($FHIR_ASSISTANT_THREADS) to start afresh.",
            db,
            key_source,
        )


class IntakeError(AgentError):
    """Root of the pre-visit intake's errors (:mod:`agent.intake`)."""


class ConsentRefused(IntakeError):
    """The patient declined the AI interview (or no consent could be had): nothing of the
    record beyond the consent search was read, nothing was asked."""

    def __init__(self, patient_id: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Patient/{patient_id} did not consent to the AI pre-visit interview{extra}; the "
            "interview was not started and nothing of the record beyond the consent search "
            "was read. The clinic can run the intake by other means, or start again if the "
            "patient changes their mind."
        )
        self.patient_id = patient_id


class IntakeNotFound(IntakeError, LookupError):
    """No intake thread with that id in the threads database."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"No intake thread {thread_id!r} in the threads database. Check the id printed "
            "when the interview paused, and that $FHIR_ASSISTANT_THREADS (and its key) are the "
            "ones it was started with."
        )
        self.thread_id = thread_id


class IntakeStateError(IntakeError):
    """The request does not fit the intake's state (e.g. answering a finished interview,
    resuming another patient's thread, finishing before the last question)."""
