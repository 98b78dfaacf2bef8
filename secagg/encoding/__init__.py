"""Float vectors <-> the ring Z_{2^b}: clipping, quantization (and the DP pipeline)."""
