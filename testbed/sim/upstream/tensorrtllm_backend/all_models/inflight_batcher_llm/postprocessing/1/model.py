"""postprocessing: token ids to text with the r24.04 tensor interface (trtllm-deploy stand-in)."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils
from tensorrt_llm import hf_tokenizer

PASSTHROUGH = {"CUM_LOG_PROBS": ("OUT_CUM_LOG_PROBS", 2), "OUTPUT_LOG_PROBS": ("OUT_OUTPUT_LOG_PROBS", 3),
               "CONTEXT_LOGITS": ("OUT_CONTEXT_LOGITS", 3), "GENERATION_LOGITS": ("OUT_GENERATION_LOGITS", 4)}


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"])["parameters"]
        self.tokenizer, _, _ = hf_tokenizer.load(params["tokenizer_dir"]["string_value"])
        skip = params.get("skip_special_tokens", {}).get("string_value", "True")
        self.skip_special_tokens = skip.strip().lower() not in ("false", "0", "no")

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        tokens = pb_utils.get_input_tensor_by_name(request, "TOKENS_BATCH").as_numpy()
        lengths = pb_utils.get_input_tensor_by_name(request, "SEQUENCE_LENGTH").as_numpy()
        texts = [[self.tokenizer.decode(beam[: int(n)].tolist(), skip_special_tokens=self.skip_special_tokens)
                  .encode() for beam, n in zip(batch, batch_lengths, strict=True)]
                 for batch, batch_lengths in zip(tokens, lengths, strict=True)]
        outputs = [pb_utils.Tensor("OUTPUT", np.array(texts, dtype=object))]
        for name, (out_name, rank) in PASSTHROUGH.items():
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            value = tensor.as_numpy() if tensor is not None else np.zeros((tokens.shape[0],) + (1,) * (rank - 1),
                                                                           dtype=np.float32)
            outputs.append(pb_utils.Tensor(out_name, value))
        return pb_utils.InferenceResponse(output_tensors=outputs)
