"""Pre-visit intake: a record-aware patient interview that ends in a
``QuestionnaireResponse`` and a cited brief for the clinician.

One concern per module:

* :mod:`._consent`: consent first (an active ``Consent`` of the configured scope and
  category, or the patient's "yes", written as one); the only read before consent;
* :mod:`._plan`: the plan as an SDC-style ``Questionnaire``, built by code from the
  reason for visit and the record (typed evidence, trends, open items), at most 20;
* :mod:`._parse`: answers read by rules first (yes/no, skip, "I don't know", numbers
  with units, dates incl. "3 days ago", choices); a model reading is kept only when the
  patient's words say it;
* :mod:`._graph`: the interview as a LangGraph graph with ``interrupt()``, checkpointed
  after every answer with the encrypted checkpointer;
* :mod:`._outputs`: the ``QuestionnaireResponse``, the discrepancies and the brief,
  verified (:func:`agent.verify.verify_reported`);
* :mod:`._session`: :class:`IntakeRunner` (start, current, answer, finish);
* :mod:`._reader`: the optional model help: reading unclear answers, rephrasing
  questions in plain language (kept only when they keep what is asked).

The patient's words are data, never instructions: they are classified as an answer to
the question asked and stored verbatim, nothing else.
"""

from ._consent import (
    CONSENT_QUESTION,
    INTAKE_TAG,
    consent_matches,
    consent_resource,
    find_consent,
    write_consent,
)
from ._graph import (
    AnswerReader,
    IntakeContext,
    IntakeState,
    Rephraser,
    build_intake_graph,
    enabled,
    follow_up_text,
    next_question,
)
from ._model import (
    AnswerStatus,
    AnswerValue,
    EnableWhen,
    ItemType,
    Option,
    PlannedQuestion,
    QuestionKind,
    RecordedAnswer,
)
from ._outputs import (
    DATA_ABSENT,
    QR_IDENTIFIER,
    SYMPTOMS_BY_MEASURE,
    WORDS_EXTENSION,
    Discrepancy,
    DiscrepancyKind,
    IntakeOutcome,
    discrepancies,
    intake_brief,
    qr_id_for,
    questionnaire_response,
)
from ._parse import Parsed, in_words, normalize, parse_answer, parse_date, parse_quantity
from ._plan import ANSWER_SYSTEM, FLU_CVX, IntakePlan, build_plan, visit_reason
from ._reader import keeps_question, model_reader, model_rephraser, reading_value
from ._session import IntakeRunner, Turn, new_thread_id

__all__ = [
    "ANSWER_SYSTEM",
    "CONSENT_QUESTION",
    "DATA_ABSENT",
    "FLU_CVX",
    "INTAKE_TAG",
    "QR_IDENTIFIER",
    "SYMPTOMS_BY_MEASURE",
    "WORDS_EXTENSION",
    "AnswerReader",
    "AnswerStatus",
    "AnswerValue",
    "Discrepancy",
    "DiscrepancyKind",
    "EnableWhen",
    "IntakeContext",
    "IntakeOutcome",
    "IntakePlan",
    "IntakeRunner",
    "IntakeState",
    "ItemType",
    "Option",
    "Parsed",
    "PlannedQuestion",
    "QuestionKind",
    "RecordedAnswer",
    "Rephraser",
    "Turn",
    "build_intake_graph",
    "build_plan",
    "consent_matches",
    "consent_resource",
    "discrepancies",
    "enabled",
    "find_consent",
    "follow_up_text",
    "in_words",
    "intake_brief",
    "keeps_question",
    "model_reader",
    "model_rephraser",
    "new_thread_id",
    "next_question",
    "normalize",
    "parse_answer",
    "parse_date",
    "parse_quantity",
    "qr_id_for",
    "questionnaire_response",
    "reading_value",
    "visit_reason",
    "write_consent",
]
