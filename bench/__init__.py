"""Benchmarks of the FHIR record assistant (``bench.ehrqa``: EHR question answering)."""
