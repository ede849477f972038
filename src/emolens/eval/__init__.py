"""Evaluation: metrics (NumPy only) and reports (JSON, confusion-matrix plots)."""
