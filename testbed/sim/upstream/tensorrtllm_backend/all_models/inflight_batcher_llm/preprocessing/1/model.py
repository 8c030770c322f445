"""preprocessing: text to token ids with the r24.04 tensor interface (trtllm-deploy stand-in)."""

import csv
import json

import numpy as np
import triton_python_backend_utils as pb_utils
from tensorrt_llm import hf_tokenizer


def strings(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    return [[v.decode() if isinstance(v, bytes) else str(v) for v in row] for row in tensor.as_numpy()]


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"])["parameters"]
        self.tokenizer, self.end_id, self.pad_id = hf_tokenizer.load(params["tokenizer_dir"]["string_value"])
        add = params.get("add_special_tokens", {}).get("string_value", "True")
        self.add_special_tokens = add.strip().lower() not in ("false", "0", "no")

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        queries = [row[0] for row in strings(request, "QUERY")]
        batch = len(queries)
        encoded = [self.tokenizer.encode(q, add_special_tokens=self.add_special_tokens).ids for q in queries]
        end_id = self._id(request, "END_ID", self.end_id, batch)
        pad_id = self._id(request, "PAD_ID", self.pad_id, batch)
        width = max(len(ids) for ids in encoded)
        input_ids = np.array([ids + [int(end_id[i][0])] * (width - len(ids)) for i, ids in enumerate(encoded)],
                             dtype=np.int32)
        output_len = pb_utils.get_input_tensor_by_name(request, "REQUEST_OUTPUT_LEN").as_numpy()
        bias = np.zeros((batch, 0), dtype=np.float32)
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("INPUT_ID", input_ids),
            pb_utils.Tensor("REQUEST_INPUT_LEN", np.array([[len(ids)] for ids in encoded], dtype=np.int32)),
            pb_utils.Tensor("BAD_WORDS_IDS", self._word_list(strings(request, "BAD_WORDS_DICT"), batch)),
            pb_utils.Tensor("STOP_WORDS_IDS", self._word_list(strings(request, "STOP_WORDS_DICT"), batch)),
            pb_utils.Tensor("EMBEDDING_BIAS", bias),
            pb_utils.Tensor("REQUEST_OUTPUT_LEN", output_len.astype(np.int32)),
            pb_utils.Tensor("OUT_END_ID", end_id),
            pb_utils.Tensor("OUT_PAD_ID", pad_id),
        ])

    @staticmethod
    def _id(request, name, default, batch):
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        if tensor is not None:
            return tensor.as_numpy().astype(np.int32).reshape(batch, -1)[:, :1]
        return np.full((batch, 1), -1 if default is None else default, dtype=np.int32)

    def _word_list(self, rows, batch):
        """Comma-separated words per request -> TensorRT-LLM's [batch, 2, N] ids/offsets format."""
        flat = []
        for row in rows or [[""]] * batch:
            ids, offsets = [], []
            for word in next(csv.reader([row[0]])) if row and row[0] else []:
                ids += self.tokenizer.encode(word, add_special_tokens=False).ids
                offsets.append(len(ids))
            flat.append((ids, offsets))
        width = max(1, *(len(ids) for ids, _ in flat))
        out = np.zeros((batch, 2, width), dtype=np.int32)
        out[:, 1, :] = -1
        for i, (ids, offsets) in enumerate(flat):
            out[i, 0, : len(ids)] = ids
            out[i, 1, : len(offsets)] = offsets
        return out
