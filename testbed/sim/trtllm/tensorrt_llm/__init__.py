"""CPU stand-in for TensorRT-LLM 0.9.0, written for trtllm-deploy's test bed.

It keeps the interfaces the deployment touches: `examples/llama/convert_checkpoint.py`
writes the 0.9.0 checkpoint layout (config.json + rank{N}.safetensors, weights split
by tensor-parallel rank, TRT-LLM weight names), `trtllm-build` takes the 0.9.0 flags
and writes config.json (version, pretrained_config, build_config) plus rank{N}.engine,
and the `tensorrtllm` Triton backend serves those engines. The engines are not
TensorRT plans: each holds its rank's weights, and a NumPy LLaMA runs them on CPU.
"""

__version__ = "0.9.0"
