"""Record tools: FHIR client, record store and (later) evidence, summaries and lab trends.

Usable without any model. See :mod:`tools.errors` for the exception tree and
:mod:`tools.source` for the ``RecordSource`` interface shared by server and store.
"""
