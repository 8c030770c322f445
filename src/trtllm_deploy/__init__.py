"""trtllm-deploy: Ansible automation for TensorRT-LLM engines served by Triton."""

__version__ = "0.1.0"
