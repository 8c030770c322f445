"""The `tensorrtllm` Triton backend of the tritonserver-sim image, as a python-based backend.

Written for trtllm-deploy's test bed. It loads the real r24.04 tensorrt_llm/config.pbtxt
unchanged: the same inputs and outputs, `gpt_model_path` and the other parameters,
decoupled (streaming) or not. It runs the stand-in engines on CPU with greedy (or
top-k/top-p) decoding. Ranks > 0 of an MPI launch serve their tensor-parallel shard
to rank 0 and never finish loading, as with the real backend, so only rank 0 serves.
"""

import json
import threading
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils
from tensorrt_llm import cuda
from tensorrt_llm.engine import EngineError, read_config
from tensorrt_llm.runtime import Leader, generate, mpi_rank_and_size, serve_worker

MODEL_TYPES = ("V1", "v1", "inflight_batching", "inflight_fused_batching")
SCHEDULER_POLICIES = ("max_utilization", "guaranteed_no_evict")


def log(level, message):
    getattr(pb_utils.Logger, f"log_{level}")(f"[TensorRT-LLM][{level.upper()}] {message}")


def parameters(model_config):
    """String parameters, with unfilled ${placeholders} treated as unset (the real backend warns too)."""
    values = {}
    for key, value in model_config.get("parameters", {}).items():
        text = value.get("string_value", "")
        if text.startswith("${") and text.endswith("}"):
            log("warn", f"parameter {key} is not set ({text}); using its default")
            continue
        values[key] = text
    return values


def strict_bool(text):
    """GetParameter<bool> of r24.04 model_state.cc: only these spellings; anything else counts as unset."""
    return {"True": True, "true": True, "TRUE": True, "1": True,
            "False": False, "false": False, "FALSE": False, "0": False}.get(text)


# kDefaultGpusPerNode of TensorRT-LLM 0.9.0's worldConfig.h: without gpu_device_ids a rank's device is
# rank % 8, whatever the host has (NVIDIA/TensorRT-LLM#1494: rank 1 of two 1-GPU nodes asks for GPU 1).
GPUS_PER_NODE = 8


def rank_device(rank, device_ids):
    """The CUDA device of a rank, as WorldConfig picks it: deviceIds[rank % len(deviceIds)], deviceIds the
    gpu_device_ids parameter or 0..7, checked as worldConfig.cpp checks them (never against the host's GPUs)."""
    ids = device_ids or list(range(GPUS_PER_NODE))
    if len(ids) > GPUS_PER_NODE or max(ids) >= GPUS_PER_NODE or min(ids) < 0 or len(set(ids)) != len(ids):
        raise EngineError(f"Assertion failed: invalid gpu_device_ids {ids} (at most {GPUS_PER_NODE} distinct ids "
                          f"from 0 to {GPUS_PER_NODE - 1})")
    return ids[rank % len(ids)]


def visible_gpus():
    """The GPUs of this host (cuda.visible_gpus() entries), or None when the test bed allows no GPU."""
    if cuda.no_gpu_allowed():
        return None
    gpus = cuda.visible_gpus()
    if not gpus:
        raise pb_utils.TritonModelException(
            "[TensorRT-LLM][ERROR] CUDA runtime error in cudaGetDeviceCount(): no CUDA-capable device is detected "
            "(start the container with GPUs: --gpus all)")
    return gpus


def hold_gpu_memory(gpu, engine_config, world_size, fraction):
    """Load-time allocations of one rank: its weights and buffers, then the KV cache from what is left.

    As TensorRT-LLM 0.9.0 sizes it: kv_cache_free_gpu_mem_fraction of the memory free
    once the engine is loaded (cudaMemGetInfo), unless max_tokens_in_paged_kv_cache is lower.
    """
    pretrained = engine_config["pretrained_config"]
    weights = cuda.model_bytes(pretrained, pretrained["dtype"]) // world_size
    try:
        held = cuda.allocate({gpu["index"]: weights + cuda.RUNTIME_BUFFER_BYTES + cuda.CONTEXT_BYTES},
                             "tritonserver (TensorRT-LLM engine)", style="trtllm",
                             where="cudaMalloc(&ptr, engine weights)")
        kv_cache = int(cuda.free_bytes(gpu["index"]) * fraction)
        cuda.allocate({gpu["index"]: kv_cache}, "tritonserver (KV cache)", style="trtllm",
                      where="cudaMallocAsync(&ptr, KV cache blocks)", allocation=held)
    except cuda.OutOfMemory as exc:
        raise pb_utils.TritonModelException(str(exc)) from exc
    log("info", f"Allocated {kv_cache / cuda.GIB:.2f} GiB for the KV cache "
                f"(kv_cache_free_gpu_mem_fraction {fraction} of the free memory) on GPU {gpu['index']}")
    return held


def word_lists(tensor):
    """Decode the [2, N] flat-ids/offsets word-list format of TensorRT-LLM.

    r24.04's preprocessing sends [1, 2, 0] when a request has no such words.
    """
    if tensor is None or tensor.as_numpy().size == 0:
        return []
    array = tensor.as_numpy().reshape(-1, 2, tensor.as_numpy().shape[-1])[0]
    ids, offsets = array[0].tolist(), [o for o in array[1].tolist() if o >= 0]
    words, start = [], 0
    for end in offsets:
        if end > start:
            words.append(ids[start:end])
        start = end
    return words


def scalar(request, name, default):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return default if tensor is None else tensor.as_numpy().reshape(-1)[0].item()


class TritonPythonModel:
    def initialize(self, args):
        self.model_config = json.loads(args["model_config"])
        values = parameters(self.model_config)
        self.decoupled = pb_utils.using_decoupled_model_transaction_policy(self.model_config)
        model_type = values.get("gpt_model_type", "")
        if model_type not in MODEL_TYPES:
            raise pb_utils.TritonModelException(
                "Invalid gpt_model_type. Must be v1/inflight_batching/inflight_fused_batching.")
        self.scheduler_policy = self._scheduler_policy(values)
        fraction = 0.9
        try:
            fraction = float(values["kv_cache_free_gpu_mem_fraction"])
        except (KeyError, ValueError):
            log("warn", "kv_cache_free_gpu_mem_fraction is not specified, will use default value of 0.9 or "
                        "max_tokens_in_paged_kv_cache")
        if not 0.0 < fraction <= 1.0:
            raise pb_utils.TritonModelException(f"kv_cache_free_gpu_mem_fraction must be in (0, 1], got {fraction}")
        engine_dir = values.get("gpt_model_path", "")
        if not engine_dir:
            raise pb_utils.TritonModelException("gpt_model_path is not set: point it at the engine directory")
        self.engine_dir = Path(engine_dir)
        self.exclude_input = bool(strict_bool(values.get("exclude_input_in_output")))
        rank, world_size = mpi_rank_and_size()
        device_ids = [int(i) for i in values.get("gpu_device_ids", "").split(",") if i.strip()]
        try:
            config = read_config(self.engine_dir)
            gpus = visible_gpus()
            device = rank_device(rank, device_ids)
            if gpus is not None and device >= len(gpus):
                raise EngineError(f"CUDA runtime error in cudaSetDevice(device): invalid device ordinal (rank {rank} "
                                  f"asks for GPU {device}; this host has {len(gpus)}: set gpu_device_ids)")
            if gpus is not None:
                self.memory = hold_gpu_memory(gpus[device], config, world_size, fraction)
            if rank > 0:
                log("info", f"rank {rank} of {world_size}: serving its shard to rank 0")
                serve_worker(self.engine_dir, rank)
                raise EngineError(f"rank {rank}: rank 0 went away")
            self.leader = Leader(self.engine_dir, world_size)
        except EngineError as exc:
            raise pb_utils.TritonModelException(f"[TensorRT-LLM][ERROR] {exc}") from exc
        self.build = config["build_config"]
        max_batch = self.model_config.get("max_batch_size", 0)
        if max_batch > self.build["max_batch_size"]:
            log("warn", f"max_batch_size {max_batch} in config.pbtxt exceeds the engine's "
                        f"{self.build['max_batch_size']}")
        # 0.9.0's attention plugin chunks a context only with context FMHA, paged KV cache and paged context FMHA
        # all built in (gptAttentionCommon.cpp, chunked_context_support).
        plugins = self.build["plugin_config"]
        self.chunked_context = self.chunked_context and all(
            plugins.get(name, False) for name in ("context_fmha", "paged_kv_cache", "use_paged_context_fmha"))
        log("info", f"engine {self.engine_dir}: {config['pretrained_config']['architecture']}, "
                    f"tp {config['pretrained_config']['mapping']['tp_size']}, {world_size} rank(s), "
                    f"{model_type}, decoupled={self.decoupled}, batch_scheduler_policy={self.scheduler_policy}, "
                    f"chunked context {'on' if self.chunked_context else 'off'}")

    def _scheduler_policy(self, values):
        """r24.04 model_instance_state.cc: the policy, enable_chunked_context, and the decoupled rule."""
        policy = values.get("batch_scheduler_policy", "")
        if policy not in SCHEDULER_POLICIES:
            log("warn", "batch_scheduler_policy parameter was not found or is invalid (must be max_utilization or "
                        "guaranteed_no_evict)")
            policy = "guaranteed_no_evict"
        self.chunked_context = strict_bool(values.get("enable_chunked_context"))
        if self.chunked_context is None:
            log("warn", "enable_chunked_context is not specified, will be set to false.")
            self.chunked_context = False
        elif self.chunked_context:
            log("warn", "enable_chunked_context is set to true, will use context chunking (requires building the "
                        "model with use_paged_context_fmha).")
        if self.decoupled and policy != "guaranteed_no_evict" and not self.chunked_context:
            log("warn", "Decoupled mode with a batch scheduler policy other than guaranteed_no_evict requires "
                        "building the model with use_paged_context_fmha and setting enable_chunked_context to "
                        "true. The batch scheduler policy will be set to guaranteed_no_evict since "
                        "enable_chunked_context is false.")
            policy = "guaranteed_no_evict"
        return policy

    def execute(self, requests):
        if self.decoupled:
            for request in requests:
                threading.Thread(target=self._stream, args=(request,), daemon=True).start()
            return None
        results = [None] * len(requests)

        def run(i, request):
            results[i] = self._complete(request)

        threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def _prepare(self, request):
        ids = pb_utils.get_input_tensor_by_name(request, "input_ids").as_numpy()
        if ids.shape[0] != 1:
            raise ValueError("Inflight batching backend expects requests with batch size of 1")
        ids = ids[0]
        length = int(scalar(request, "input_lengths", ids.size))
        ids = ids[:length].astype(np.int64).tolist()
        max_new = int(scalar(request, "request_output_len", 16))
        # The batch manager's check (llmRequest.h): without context chunking a prompt must fit
        # max_num_tokens, the tokens one engine step takes, as well as max_input_len.
        limit = self.build["max_input_len"]
        max_tokens = self.build.get("max_num_tokens")
        if max_tokens and not self.chunked_context:
            limit = min(limit, max_tokens)
        if length > limit:
            raise ValueError(f"Cannot process new request: Prompt length ({length}) exceeds maximum input length "
                             f"({limit}).")
        if max_new > self.build["max_output_len"]:
            raise ValueError(f"request_output_len {max_new} exceeds the engine's max_output_len "
                             f"{self.build['max_output_len']}")
        options = {
            "end_id": scalar(request, "end_id", None),
            "stop_words": word_lists(pb_utils.get_input_tensor_by_name(request, "stop_words_list")),
            "bad_words": word_lists(pb_utils.get_input_tensor_by_name(request, "bad_words_list")),
            "min_length": int(scalar(request, "min_length", 0)),
            "top_k": int(scalar(request, "runtime_top_k", 1)),
            "top_p": float(scalar(request, "runtime_top_p", 0.0)),
            "temperature": float(scalar(request, "temperature", 1.0)),
            "seed": int(scalar(request, "random_seed", 0)),
        }
        return ids, max_new, options

    def _outputs(self, tokens, log_probs, want_log_probs):
        out_len = len(log_probs)
        probs = np.array(log_probs if want_log_probs else [0.0] * out_len, dtype=np.float32)
        return [
            pb_utils.Tensor("output_ids", np.array(tokens, dtype=np.int32).reshape(1, 1, -1)),
            pb_utils.Tensor("sequence_length", np.array([[len(tokens)]], dtype=np.int32)),
            pb_utils.Tensor("cum_log_probs", np.array([[probs.sum()]], dtype=np.float32)),
            pb_utils.Tensor("output_log_probs", probs.reshape(1, 1, -1)),
            pb_utils.Tensor("context_logits", np.zeros((1, 1, 1), dtype=np.float32)),
            pb_utils.Tensor("generation_logits", np.zeros((1, 1, 1, 1), dtype=np.float32)),
        ]

    def _token_response(self, pairs, want_log_probs):
        return pb_utils.InferenceResponse(
            output_tensors=self._outputs([t for t, _ in pairs], [p for _, p in pairs], want_log_probs))

    def _complete(self, request):
        try:
            if scalar(request, "streaming", False):
                raise ValueError("Streaming is only supported if model is deployed using decoupled mode.")
            ids, max_new, options = self._prepare(request)
            pairs = list(generate(self.leader, ids, max_new, **options))
        except ValueError as exc:
            return self._refuse(request, exc)
        tokens = [t for t, _ in pairs] if self.exclude_input else ids + [t for t, _ in pairs]
        return pb_utils.InferenceResponse(
            output_tensors=self._outputs(tokens, [p for _, p in pairs], scalar(request, "return_log_probs", False)))

    def _stream(self, request):
        sender = request.get_response_sender()
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        try:
            ids, max_new, options = self._prepare(request)
            want = scalar(request, "return_log_probs", False)
            if scalar(request, "streaming", False):
                # As the real backend: one response per token, the last one with the FINAL flag
                # (r24.04's BLS post-processes every response it gets, so no empty final one).
                last = None
                for pair in generate(self.leader, ids, max_new, **options):
                    if last is not None:
                        sender.send(self._token_response([last], want))
                    last = pair
                sender.send(self._token_response([last] if last else [], want), flags=final)
                return
            pairs = list(generate(self.leader, ids, max_new, **options))
            tokens = [t for t, _ in pairs] if self.exclude_input else ids + [t for t, _ in pairs]
            sender.send(pb_utils.InferenceResponse(output_tensors=self._outputs(tokens, [p for _, p in pairs], want)),
                        flags=final)
        except Exception as exc:  # every request gets an answer, even an unexpected failure
            sender.send(self._refuse(request, exc), flags=final)

    @staticmethod
    def _refuse(request, exc):
        # The r24.04 backend logs the runtime's refusal and answers the request with it.
        log("error", f"Encountered error for requestId {request.request_id() or 0}: {exc}")
        return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))

    def finalize(self):
        if getattr(self, "leader", None):
            self.leader.close()
