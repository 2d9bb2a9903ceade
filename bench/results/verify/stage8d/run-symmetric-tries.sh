#!/bin/bash
# The two tries before symmetric activations got their own ranked list (session 14), kept for
# the record: onnx-int8-static-symmetric-asymmetric-list.json is run-trt-graphs.sh while
# int8.json had only the asymmetric list; these two are percentile calibration (fails in
# onnxruntime's histogram: "Too many bins for data range") and the asymmetric list plus the
# cross-attention K/V projections.
cd "$(dirname "$0")/../../../.." && source .venv/bin/activate
out=bench/results/verify/stage8d; b=/tmp/b8
keep="encoder.blocks.0.mlp.fc2 encoder.blocks.1.mlp.fc2 encoder.blocks.2.mlp.fc2 encoder.blocks.3.attn.out_proj encoder.blocks.0.attn.out_proj encoder.blocks.1.attn.out_proj"
kv="decoder.blocks.0.cross_attn.k_proj decoder.blocks.0.cross_attn.v_proj decoder.blocks.1.cross_attn.k_proj decoder.blocks.1.cross_attn.v_proj decoder.blocks.2.cross_attn.k_proj decoder.blocks.2.cross_attn.v_proj"
echo-edge export --backend onnx --precision int8 --quant static --activations symmetric --calibrator percentile --from-onnx $b/onnx-fp32 --out $b/sym-pct --no-verify --force
echo-edge export --backend onnx --precision int8 --quant static --activations symmetric --from-onnx $b/onnx-fp32 --out $b/sym-kv --no-verify --force --keep-float $keep $kv
echo-edge verify $b/sym-kv --out $out/onnx-int8-static-symmetric-plus-cross-kv.json
