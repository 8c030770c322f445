"""Python 3.10's rule for dataclass field defaults, in the tritonserver-sim image (Python 3.11).

The NGC image tritonserver:24.04-trtllm-python-py3 runs Python 3.10 (Ubuntu 22.04), where a
dataclass field may default to anything but a list, dict or set. Python 3.11 refuses every
unhashable default, so r24.04's tensorrt_llm_bls/1/lib/decode.py (`text_input: np.ndarray =
np.array([])`) fails to import there: "mutable default <class 'numpy.ndarray'> for field
text_input is not allowed: use default_factory". Debian bookworm has no Python 3.10, so this
puts 3.10's check back into dataclasses and upstream's file runs unchanged. It only turns
that error into 3.10's acceptance; nothing else in dataclasses changes.

trtllm_sim_py310_dataclasses.pth (site-packages) imports this at every interpreter start,
the python backend's stubs included; the check is swapped when dataclasses is first imported
(importing it here would cost every Python process in the image its start-up time).
"""

import sys
from importlib.machinery import PathFinder

PY311_CHECK = "f.default.__class__.__hash__ is None"
PY310_CHECK = "isinstance(f.default, (list, dict, set))"


def _source_of_get_field(dataclasses) -> str:
    """The text of dataclasses._get_field, read from its module's file."""
    with open(dataclasses.__file__, encoding="utf-8") as handle:
        lines = handle.readlines()
    start = dataclasses._get_field.__code__.co_firstlineno - 1
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
        end += 1
    return "".join(lines[start:end])


def install(dataclasses) -> bool:
    """Swap the check in dataclasses._get_field; True when 3.10's rule is in force."""
    if getattr(dataclasses, "_trtllm_sim_py310_defaults", False):
        return True
    source = _source_of_get_field(dataclasses)
    if not source.startswith("def _get_field(") or source.count(PY311_CHECK) != 1:
        print("trtllm-sim: dataclasses._get_field has changed; Python 3.10's default rule is not restored",
              file=sys.stderr)
        return False
    exec(compile(source.replace(PY311_CHECK, PY310_CHECK), dataclasses.__file__, "exec"), vars(dataclasses))
    dataclasses._trtllm_sim_py310_defaults = True
    return True


class _OnImport:
    """A meta path finder that installs the rule right after dataclasses is executed."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "dataclasses":
            return None
        spec = PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_install(module):
            exec_module(module)
            install(module)

        spec.loader.exec_module = exec_then_install
        return spec


if sys.version_info >= (3, 11):
    if "dataclasses" in sys.modules:
        install(sys.modules["dataclasses"])
    else:
        sys.meta_path.insert(0, _OnImport)
