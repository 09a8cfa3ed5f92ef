"""Prose out of a model's streamed structured output.

The agent's model steps answer in JSON (``{"sentences": [{"text": …, "cites": […]}]}``
for compose and repair, ``{"action": …, "calls": […], "sentences": […]}`` for plan).
:class:`SentenceStreamer` consumes that JSON as it arrives, in chunks of any size, and
returns only the characters of the sentences' ``text`` values, JSON escapes decoded
(also across chunk boundaries), sentences joined by a space and each finished answer
ended by a newline::

    streamer = SentenceStreamer()
    for chunk in chunks:
        sys.stdout.write(streamer.feed(chunk))
    sys.stdout.write(streamer.close())

A plan step that calls tools (``"action"`` other than ``"answer"``) yields nothing; a
plan step that answers at once (``"action": "answer"``) streams its sentences like a
compose step. Text outside a JSON object (a Markdown code fence, a ``<think>…</think>``
span) is skipped; malformed JSON ends the current answer quietly: the streamed prose is
a preview, the verified answer follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SentenceStreamer"]

_WS = " \t\r\n"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERAL = set("0123456789+-.eEtrufalsn")
_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


@dataclass
class _Frame:
    """An open JSON container: an object (``key`` is the member being read) or an array."""

    kind: str  # "obj" | "arr"
    expect: str  # obj: "key" | "colon" | "value" | "comma"; arr: "value" | "comma"
    key: str | None = None


class SentenceStreamer:
    """Incremental extractor of ``sentences[*].text`` from streamed JSON text.

    ``feed(chunk)`` returns the prose the chunk completes; ``close()`` ends the stream
    (a newline when an answer was cut off). One instance handles any number of JSON
    documents in a row (e.g. plan, then compose, then repair).

    Args:
        sep: put between two sentences of one answer.
    """

    def __init__(self, sep: str = " ") -> None:
        self.sep = sep
        self._stack: list[_Frame] = []
        self._in_string = False
        self._string_is_key = False
        self._emit_string = False
        self._buf: list[str] = []  # a key, or the plan's action, being read
        self._escape: str | None = None  # None, "\\" (after a backslash) or "u" + hex digits
        self._high: int | None = None  # a pending UTF-16 high surrogate
        self._in_literal = False
        self._action: str | None = None
        self._first_char = False  # the next emitted char starts a sentence
        self._emitted = False  # any prose emitted in this document
        self._idle = ""  # text outside a document, kept to spot <think>
        self._thinking = False

    # ------------------------------------------------------------------ public

    def feed(self, chunk: str) -> str:
        """Consume one chunk of model text; return the prose it completes."""
        out: list[str] = []
        for ch in chunk:
            self._step(ch, out)
        return "".join(out)

    def close(self) -> str:
        """End of the stream: a newline if an answer was left open, then reset."""
        out: list[str] = []
        if self._stack:
            self._end_document(out)
        self._idle = ""
        self._thinking = False
        return "".join(out)

    # ------------------------------------------------------------------ machinery

    def _step(self, ch: str, out: list[str]) -> None:
        if not self._stack:
            self._outside(ch)
            return
        if self._in_string:
            self._string_char(ch, out)
            return
        if self._in_literal:
            if ch in _LITERAL:
                return
            self._in_literal = False
            self._value_done()
        self._structural(ch, out)

    def _outside(self, ch: str) -> None:
        """Between documents: skip everything but the ``{`` that opens one."""
        if self._thinking:
            self._idle = (self._idle + ch)[-len(_THINK_CLOSE) :]
            if self._idle == _THINK_CLOSE:
                self._thinking = False
                self._idle = ""
            return
        self._idle = (self._idle + ch)[-len(_THINK_OPEN) :]
        if self._idle == _THINK_OPEN:
            self._thinking = True
            self._idle = ""
            return
        if ch == "{":
            self._idle = ""
            self._action = None
            self._emitted = False
            self._stack.append(_Frame("obj", "key"))

    def _structural(self, ch: str, out: list[str]) -> None:
        if ch in _WS:
            return
        top = self._stack[-1]
        if top.kind == "obj":
            if top.expect == "key":
                if ch == '"':
                    self._open_string(is_key=True)
                elif ch == "}":
                    self._close_container(out)
                else:
                    self._fail(out)
            elif top.expect == "colon":
                if ch == ":":
                    top.expect = "value"
                else:
                    self._fail(out)
            elif top.expect == "value":
                self._open_value(ch, out)
            elif ch == ",":
                top.expect = "key"
                top.key = None
            elif ch == "}":
                self._close_container(out)
            else:
                self._fail(out)
        elif top.expect == "value":
            if ch == "]":
                self._close_container(out)
            else:
                self._open_value(ch, out)
        elif ch == ",":
            top.expect = "value"
        elif ch == "]":
            self._close_container(out)
        else:
            self._fail(out)

    def _open_value(self, ch: str, out: list[str]) -> None:
        if ch == "{":
            self._stack.append(_Frame("obj", "key"))
        elif ch == "[":
            self._stack.append(_Frame("arr", "value"))
        elif ch == '"':
            self._open_string(is_key=False)
        elif ch in _LITERAL:
            self._in_literal = True
        else:
            self._fail(out)

    def _open_string(self, *, is_key: bool) -> None:
        self._in_string = True
        self._string_is_key = is_key
        self._buf = []
        self._escape = None
        self._high = None
        self._emit_string = not is_key and self._is_sentence_text() and self._streaming()
        self._first_char = True

    def _string_char(self, ch: str, out: list[str]) -> None:
        if self._escape is None:
            if ch == "\\":
                self._escape = "\\"
            elif ch == '"':
                self._close_string(out)
            else:
                self._char(ch, out)
            return
        if self._escape == "\\":
            if ch == "u":
                self._escape = "u"
                return
            self._escape = None
            self._char(_ESCAPES.get(ch, ch), out)
            return
        # inside \uXXXX
        if ch not in "0123456789abcdefABCDEF":
            self._escape = None
            self._char(ch, out)
            return
        self._escape += ch
        if len(self._escape) < 5:
            return
        code = int(self._escape[1:], 16)
        self._escape = None
        if 0xD800 <= code < 0xDC00:
            if self._high is not None:
                self._char("\ufffd", out)
            self._high = code
            return
        if 0xDC00 <= code < 0xE000 and self._high is not None:
            code = 0x10000 + ((self._high - 0xD800) << 10) + (code - 0xDC00)
            self._high = None
            self._char(chr(code), out, combined=True)
            return
        self._char(chr(code), out)

    def _char(self, ch: str, out: list[str], *, combined: bool = False) -> None:
        if self._high is not None and not combined:
            self._high = None
            self._put("\ufffd", out)
        self._put(ch, out)

    def _put(self, ch: str, out: list[str]) -> None:
        if self._emit_string:
            if self._first_char:
                self._first_char = False
                if self._emitted and self.sep:
                    out.append(self.sep)
            out.append(ch)
            self._emitted = True
        elif self._string_is_key or self._watched_value():
            self._buf.append(ch)

    def _close_string(self, out: list[str]) -> None:
        if self._high is not None:
            self._high = None
            self._put("\ufffd", out)
        self._in_string = False
        top = self._stack[-1]
        if self._string_is_key:
            top.key = "".join(self._buf)
            top.expect = "colon"
            return
        if self._watched_value():
            self._action = "".join(self._buf).strip()
        self._emit_string = False
        self._value_done()

    def _value_done(self) -> None:
        top = self._stack[-1]
        top.expect = "comma"

    def _close_container(self, out: list[str]) -> None:
        self._stack.pop()
        if not self._stack:
            self._end_document(out)
            return
        self._value_done()

    def _end_document(self, out: list[str]) -> None:
        if self._emitted:
            out.append("\n")
        self._reset_document()

    def _fail(self, out: list[str]) -> None:
        """Not the JSON we expect: end this document (the verified answer follows)."""
        self._end_document(out)

    def _reset_document(self) -> None:
        self._stack.clear()
        self._in_string = False
        self._in_literal = False
        self._escape = None
        self._high = None
        self._emit_string = False
        self._emitted = False
        self._action = None
        self._idle = ""

    # ------------------------------------------------------------------ paths

    def _is_sentence_text(self) -> bool:
        """The string about to be read is ``sentences[i].text``."""
        s = self._stack
        return (
            len(s) == 3
            and s[0].key == "sentences"
            and s[1].kind == "arr"
            and s[2].kind == "obj"
            and s[2].key == "text"
        )

    def _watched_value(self) -> bool:
        """The string being read is the top-level ``action`` (plan steps)."""
        s = self._stack
        return not self._string_is_key and len(s) == 1 and s[0].key == "action"

    def _streaming(self) -> bool:
        """Compose/repair documents stream; plan documents only when they answer."""
        return self._action is None or self._action == "answer"
