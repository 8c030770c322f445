"""tensorrt_llm_bls: preprocessing -> tensorrt_llm -> postprocessing in one model (trtllm-deploy stand-in)."""

import json

import triton_python_backend_utils as pb_utils
from lib.triton_decoder import TritonDecoder


class TritonPythonModel:
    def initialize(self, args):
        model_config = json.loads(args["model_config"])
        params = model_config["parameters"]
        self.decoupled = pb_utils.using_decoupled_model_transaction_policy(model_config)
        accumulate = params.get("accumulate_tokens", {}).get("string_value", "false").lower() in ("true", "1")
        self.decoder = TritonDecoder(
            llm_model_name=params["tensorrt_llm_model_name"]["string_value"],
            accumulate=accumulate,
            decoupled=self.decoupled,
        )

    def execute(self, requests):
        responses = []
        for request in requests:
            sender = request.get_response_sender() if self.decoupled else None
            try:
                for outputs in self.decoder.decode(request):
                    response = pb_utils.InferenceResponse(output_tensors=outputs)
                    if sender:
                        sender.send(response)
                    else:
                        responses.append(response)
            except Exception as exc:
                error = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))
                if sender:
                    sender.send(error)
                else:
                    responses.append(error)
            if sender:
                sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None if self.decoupled else responses
