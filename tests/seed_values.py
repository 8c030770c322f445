"""Values shared by tests: the workflow's config tables."""

# The workflow's values (its tables), plus what it forgot and r24.04 needs to load.
SEED = {
    "triton_max_batch_size": 256,
    "tokenizer_dir": "/models/trt/Meta-Llama-3-8B-Instruct",
    "decoupled_mode": True,
    "batching_strategy": "inflight_fused_batching",
    "batch_scheduler_policy": "max_utilization",
    "kv_cache_free_gpu_mem_fraction": 0.9,
    "engine_dir": "/tensorrtllm_backend/triton_model_repo/tensorrt_llm/1",
    "max_queue_delay_microseconds": 0,
    "preprocessing_instance_count": 1,
    "postprocessing_instance_count": 1,
    "bls_instance_count": 1,
    "tensorrt_llm_model_name": "tensorrt_llm",
    "exclude_input_in_output": True,
    "accumulate_tokens": False,
}
