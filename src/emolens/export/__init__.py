"""Export trained networks to ONNX (with their preprocessing) and quantize them."""
