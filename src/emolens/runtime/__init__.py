"""Inference with ONNX Runtime: no torch needed."""
