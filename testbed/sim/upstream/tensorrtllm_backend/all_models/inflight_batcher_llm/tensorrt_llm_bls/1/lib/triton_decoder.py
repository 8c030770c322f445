"""BLS calls from tensorrt_llm_bls to the preprocessing, tensorrt_llm and postprocessing models."""

import numpy as np
import triton_python_backend_utils as pb_utils

# BLS input name -> (model input name, model) for inputs forwarded unchanged
PREPROCESSING_INPUTS = {"text_input": "QUERY", "max_tokens": "REQUEST_OUTPUT_LEN", "bad_words": "BAD_WORDS_DICT",
                        "stop_words": "STOP_WORDS_DICT", "end_id": "END_ID", "pad_id": "PAD_ID"}
LLM_SAMPLING_INPUTS = {"top_k": "runtime_top_k", "top_p": "runtime_top_p", "temperature": "temperature",
                       "length_penalty": "len_penalty", "repetition_penalty": "repetition_penalty",
                       "min_length": "min_length", "presence_penalty": "presence_penalty",
                       "frequency_penalty": "frequency_penalty", "random_seed": "random_seed",
                       "return_log_probs": "return_log_probs", "beam_width": "beam_width", "stream": "streaming"}
PREPROCESSED = {"INPUT_ID": "input_ids", "REQUEST_INPUT_LEN": "input_lengths",
                "REQUEST_OUTPUT_LEN": "request_output_len", "OUT_END_ID": "end_id", "OUT_PAD_ID": "pad_id",
                "STOP_WORDS_IDS": "stop_words_list", "BAD_WORDS_IDS": "bad_words_list"}
POSTPROCESS_INPUTS = {"output_ids": "TOKENS_BATCH", "sequence_length": "SEQUENCE_LENGTH",
                      "cum_log_probs": "CUM_LOG_PROBS", "output_log_probs": "OUTPUT_LOG_PROBS",
                      "context_logits": "CONTEXT_LOGITS", "generation_logits": "GENERATION_LOGITS"}
OUTPUTS = {"OUTPUT": "text_output", "OUT_CUM_LOG_PROBS": "cum_log_probs",
           "OUT_OUTPUT_LOG_PROBS": "output_log_probs", "OUT_CONTEXT_LOGITS": "context_logits",
           "OUT_GENERATION_LOGITS": "generation_logits"}


def renamed(source, mapping, getter):
    tensors = []
    for old, new in mapping.items():
        tensor = getter(source, old)
        if tensor is not None:
            tensors.append(pb_utils.Tensor(new, tensor.as_numpy()))
    return tensors


def checked(response):
    if response.has_error():
        raise pb_utils.TritonModelException(response.error().message())
    return response


class TritonDecoder:
    def __init__(self, llm_model_name, accumulate=False, decoupled=False,
                 preproc_model_name="preprocessing", postproc_model_name="postprocessing"):
        self.llm_model_name = llm_model_name
        self.accumulate = accumulate
        self.decoupled = decoupled
        self.preproc_model_name = preproc_model_name
        self.postproc_model_name = postproc_model_name

    def _call(self, model, inputs, outputs, decoupled=False):
        request = pb_utils.InferenceRequest(model_name=model, inputs=inputs, requested_output_names=outputs)
        if decoupled:
            return (checked(r) for r in request.exec(decoupled=True) if r.output_tensors() or r.has_error())
        return iter([checked(request.exec())])

    def decode(self, request):
        """Yield the output tensors of each response (one, or one per token when streaming)."""
        get = pb_utils.get_input_tensor_by_name
        pre_inputs = renamed(request, PREPROCESSING_INPUTS, get)
        pre = next(self._call(self.preproc_model_name, pre_inputs, list(PREPROCESSED)))
        llm_inputs = renamed(pre, PREPROCESSED, pb_utils.get_output_tensor_by_name)
        llm_inputs += renamed(request, LLM_SAMPLING_INPUTS, get)
        stream = get(request, "stream")
        streaming = bool(stream is not None and stream.as_numpy().reshape(-1)[0])
        tokens = []
        for response in self._call(self.llm_model_name, llm_inputs, list(POSTPROCESS_INPUTS), self.decoupled):
            if streaming and self.accumulate:
                tokens.append(pb_utils.get_output_tensor_by_name(response, "output_ids").as_numpy())
                ids = np.concatenate(tokens, axis=-1)
                yield self._postprocess(response, ids)
            else:
                yield self._postprocess(response, None)

    def _postprocess(self, llm_response, accumulated_ids):
        inputs = renamed(llm_response, POSTPROCESS_INPUTS, pb_utils.get_output_tensor_by_name)
        if accumulated_ids is not None:
            inputs = [t for t in inputs if t.name() not in ("TOKENS_BATCH", "SEQUENCE_LENGTH")] + [
                pb_utils.Tensor("TOKENS_BATCH", accumulated_ids),
                pb_utils.Tensor("SEQUENCE_LENGTH", np.array([[accumulated_ids.shape[-1]]], dtype=np.int32))]
        post = next(self._call(self.postproc_model_name, inputs, list(OUTPUTS)))
        return renamed(post, OUTPUTS, pb_utils.get_output_tensor_by_name)
