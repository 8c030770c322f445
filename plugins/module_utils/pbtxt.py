# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edit Triton config.pbtxt files as text, validated against Triton's ModelConfig schema.

Edits are splices into the original text, so lines and comments that are not touched
stay byte for byte. No Ansible imports: the module is a thin wrapper around render().
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Parameters without which the TensorRT-LLM models do not load (the backend treats a
# value still reading "${...}" as unset). Others left unfilled fall back to defaults.
REQUIRED_PARAMETERS = ("gpt_model_path", "engine_dir", "gpt_model_type", "tokenizer_dir", "tensorrt_llm_model_name")


class PbtxtError(Exception):
    """Input or template problem; the message names the place to fix."""


# --------------------------------------------------------------------------- tokens


@dataclass
class Token:
    kind: str  # name | string | placeholder | punct
    text: str
    start: int
    end: int


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<comment>\#[^\n]*)
      | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<placeholder>\$\{[A-Za-z_][A-Za-z0-9_]*\})
      | (?P<name>[A-Za-z0-9_.+\-]+)
      | (?P<punct>[{}\[\]:,;<>])""",
    re.VERBOSE,
)


def line_col(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"line {line}, column {offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def tokenize(text: str) -> tuple[list[Token], list[tuple[int, int]]]:
    """Tokens, and the spans of comments."""
    tokens, comments, pos = [], [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise PbtxtError(f"cannot read {text[pos:pos + 20]!r} at {line_col(text, pos)}")
        kind = match.lastgroup
        if kind == "comment":
            comments.append((match.start(), match.end()))
        elif kind != "ws":
            tokens.append(Token(kind, match.group(), match.start(), match.end()))
        pos = match.end()
    return tokens, comments


# --------------------------------------------------------------------------- tree


@dataclass
class Scalar:
    start: int
    end: int
    tokens: list[Token]


@dataclass
class Message:
    start: int  # offset of "{" (0 for the root)
    end: int  # offset just past "}" (len(text) for the root)
    fields: list[Field] = field(default_factory=list)


@dataclass
class ListValue:
    start: int
    end: int
    items: list  # Scalar | Message


@dataclass
class Field:
    name: str
    start: int
    end: int
    value: Scalar | Message | ListValue


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens, self.comments = tokenize(text)
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> Token:
        token = self.peek()
        if token is None:
            raise PbtxtError(f"unexpected end of file, expected {expected or 'more'}")
        if expected and token.text != expected:
            raise PbtxtError(f"expected {expected!r} at {line_col(self.text, token.start)}, found {token.text!r}")
        self.pos += 1
        return token

    def message(self, start: int, closing: str | None) -> Message:
        msg = Message(start, len(self.text))
        while True:
            token = self.peek()
            if token is None:
                if closing:
                    raise PbtxtError(f"unclosed {{ opened at {line_col(self.text, start)}")
                return msg
            if closing and token.text == closing:
                msg.end = self.take().end
                return msg
            msg.fields.append(self.field())

    def field(self) -> Field:
        name = self.take()
        if name.kind != "name":
            raise PbtxtError(f"expected a field name at {line_col(self.text, name.start)}, found {name.text!r}")
        if self.peek() and self.peek().text == ":":
            self.take()
        value = self.value()
        end = value.end
        if self.peek() and self.peek().text in (",", ";"):
            end = self.take().end
        return Field(name.text, name.start, end, value)

    def value(self):
        token = self.peek()
        if token is None:
            raise PbtxtError("unexpected end of file, expected a value")
        if token.text in ("{", "<"):
            self.take()
            return self.message(token.start, "}" if token.text == "{" else ">")
        if token.text == "[":
            self.take()
            items = []
            while self.peek() and self.peek().text != "]":
                items.append(self.value())
                if self.peek() and self.peek().text == ",":
                    self.take()
            return ListValue(token.start, self.take("]").end, items)
        parts = [self.take()]
        if parts[0].kind not in ("name", "string", "placeholder"):
            raise PbtxtError(f"expected a value at {line_col(self.text, token.start)}, found {token.text!r}")
        while parts[0].kind == "string" and self.peek() and self.peek().kind == "string":
            parts.append(self.take())  # adjacent strings concatenate
        return Scalar(parts[0].start, parts[-1].end, parts)


def parse(text: str) -> tuple[Message, list[tuple[int, int]]]:
    parser = _Parser(text)
    return parser.message(0, None), parser.comments


def unquote(scalar: Scalar) -> str:
    out = []
    for token in scalar.tokens:
        body = token.text[1:-1] if token.kind == "string" else token.text
        out.append(re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body))
    return "".join(out)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# --------------------------------------------------------------------------- placeholders


def _in_spans(offset: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= offset < end for start, end in spans)


def placeholder_sites(text: str) -> list[tuple[str, int, int, str]]:
    """(name, start, end, where) for every ${name}; where is bare, string or comment."""
    tokens, comments = tokenize(text)
    strings = [(t.start, t.end) for t in tokens if t.kind == "string"]
    sites = []
    for match in PLACEHOLDER.finditer(text):
        if _in_spans(match.start(), comments):
            where = "comment"
        elif _in_spans(match.start(), strings):
            where = "string"
        else:
            where = "bare"
        sites.append((match.group(1), match.start(), match.end(), where))
    return sites


def render_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise PbtxtError("a placeholder value is null")
    return str(value)


def fill_placeholders(text: str, values: dict, ignore_unknown: bool = False) -> str:
    """Replace ${name}; inside a quoted string the value is escaped for that string."""
    sites = placeholder_sites(text)
    known = {name for name, *_ in sites}
    unknown = sorted(set(values) - known)
    if unknown and not ignore_unknown:
        raise PbtxtError(
            f"placeholders {', '.join(unknown)} are not in the template "
            f"(it has: {', '.join(sorted(known)) or 'none'}); remove them or set ignore_unknown"
        )
    out = text
    for name, start, end, where in reversed(sites):
        if name not in values:
            continue
        rendered = render_value(values[name])
        if where == "string":
            rendered = quote(rendered)[1:-1]
        out = out[:start] + rendered + out[end:]
    return out


# --------------------------------------------------------------------------- schema-typed edits


def _field_descriptor(descriptor, name: str, path: str):
    try:
        return descriptor.fields_by_name[name]
    except KeyError:
        raise PbtxtError(f"{path}: {descriptor.name} has no field {name!r}") from None


def format_scalar(fd, value, path: str) -> str:
    from google.protobuf.descriptor import FieldDescriptor as F

    kind = fd.type
    if kind == F.TYPE_BOOL:
        if isinstance(value, bool):
            return "true" if value else "false"
        if str(value).lower() in ("true", "false"):
            return str(value).lower()
        raise PbtxtError(f"{path}: expected a boolean, got {value!r}")
    if kind in (F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_SINT32, F.TYPE_SINT64,
                F.TYPE_FIXED32, F.TYPE_FIXED64, F.TYPE_SFIXED32, F.TYPE_SFIXED64):
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value).strip()):
            raise PbtxtError(f"{path}: expected an integer, got {value!r}")
        number = int(str(value).strip())
        if number < 0 and kind in (F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_FIXED32, F.TYPE_FIXED64):
            raise PbtxtError(f"{path}: expected an unsigned integer, got {value!r}")
        return str(number)
    if kind in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        try:
            if isinstance(value, bool):
                raise ValueError
            return repr(float(value))
        except ValueError:
            raise PbtxtError(f"{path}: expected a number, got {value!r}") from None
    if kind == F.TYPE_ENUM:
        names = [v.name for v in fd.enum_type.values]
        if str(value) not in names:
            raise PbtxtError(f"{path}: expected one of {', '.join(names)}, got {value!r}")
        return str(value)
    if kind == F.TYPE_STRING:
        return quote(str(value))
    raise PbtxtError(f"{path}: fields of type {kind} cannot be set here")


def _is_repeated(fd) -> bool:
    # protobuf >= 5.29 has is_repeated and deprecates label
    return fd.is_repeated if hasattr(fd, "is_repeated") else fd.label == fd.LABEL_REPEATED


def _elements(msg: Message, name: str) -> list:
    """The values of a (possibly repeated) field in order: `x {..} x {..}` or `x [ {..}, {..} ]`."""
    out = []
    for f in msg.fields:
        if f.name == name:
            out.extend(f.value.items if isinstance(f.value, ListValue) else [f.value])
    return out


def _indent_of(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    return re.match(r"[ \t]*", text[line_start:]).group()


def _nested_text(parts: list[str], rendered: str, indent: str, step: str = "  ") -> str:
    if len(parts) == 1:
        return f"{indent}{parts[0]}: {rendered}"
    inner = _nested_text(parts[1:], rendered, indent + step, step)
    return f"{indent}{parts[0]} {{\n{inner}\n{indent}}}"


def _insert_into(text: str, msg: Message, parts: list[str], rendered: str) -> str:
    if msg.start == 0 and msg.end == len(text):  # root: append at the end of the file
        body = _nested_text(parts, rendered, "")
        return text + ("" if text.endswith("\n") or not text else "\n") + body + "\n"
    indent = _indent_of(text, msg.fields[0].start) if msg.fields else _indent_of(text, msg.start) + "  "
    close = msg.end - 1  # the "}"
    before = text[:close].rstrip(" \t")
    closing_indent = _indent_of(text, close)
    body = _nested_text(parts, rendered, indent)
    sep = "" if before.endswith("\n") else "\n"
    return before + sep + body + "\n" + closing_indent + text[close:]


def set_field(text: str, schema, dotted: str, value) -> str:
    """Set the scalar at a dotted path (numbers index repeated fields), adding what is missing."""
    parts = dotted.split(".")
    path = f"fields.{dotted}"
    root, _ = parse(text)
    msg, descriptor, fd = root, schema.DESCRIPTOR, None
    i = 0
    while i < len(parts):
        name = parts[i]
        fd = _field_descriptor(descriptor, name, path)
        last = i == len(parts) - 1
        repeated = _is_repeated(fd)
        if repeated and fd.message_type is not None:
            if last or not parts[i + 1].isdigit():
                raise PbtxtError(f"{path}: {name} is a list; name an element like {name}.0.<field>")
            index = int(parts[i + 1])
            items = _elements(msg, name)
            if index >= len(items):
                raise PbtxtError(f"{path}: {name} has {len(items)} element(s), there is no {name}.{index}")
            msg, descriptor = items[index], fd.message_type
            i += 2
            continue
        if repeated:
            if i + 2 != len(parts) or not parts[i + 1].isdigit():
                raise PbtxtError(f"{path}: {name} is a repeated scalar; name an element like {name}.0")
            items, index = _elements(msg, name), int(parts[i + 1])
            if index >= len(items):
                raise PbtxtError(f"{path}: {name} has {len(items)} element(s), there is no {name}.{index}")
            return text[:items[index].start] + format_scalar(fd, value, path) + text[items[index].end:]
        existing = [f for f in msg.fields if f.name == name]
        if fd.message_type is not None:
            if last:
                raise PbtxtError(f"{path}: {name} is a message; name one of its fields")
            if not existing:
                leaf = _field_descriptor_chain(fd.message_type, parts[i + 1:], path)
                return _insert_into(text, msg, parts[i:], format_scalar(leaf, value, path))
            msg, descriptor = existing[-1].value, fd.message_type
            i += 1
            continue
        if not last:
            raise PbtxtError(f"{path}: {name} is a scalar, it has no field {parts[i + 1]!r}")
        rendered = format_scalar(fd, value, path)
        if not existing:
            return _insert_into(text, msg, [name], rendered)
        scalar = existing[-1].value
        return text[:scalar.start] + rendered + text[scalar.end:]
    raise PbtxtError(f"{path}: empty path")


def _field_descriptor_chain(descriptor, parts: list[str], path: str):
    fd = None
    for name in parts:
        if name.isdigit():
            raise PbtxtError(f"{path}: cannot create list elements; add them to the template")
        fd = _field_descriptor(descriptor, name, path)
        if _is_repeated(fd):
            raise PbtxtError(f"{path}: {name} is repeated and missing; add it to the template")
        descriptor = fd.message_type
    if descriptor is not None:
        raise PbtxtError(f"{path}: {parts[-1]} is a message; name one of its fields")
    return fd


def parameter_entries(root: Message) -> dict:
    """key -> the string_value Scalar (or None) of each `parameters` entry."""
    entries = {}
    for item in _elements(root, "parameters"):
        if not isinstance(item, Message):
            continue
        key = next((f.value for f in item.fields if f.name == "key" and isinstance(f.value, Scalar)), None)
        value = next((f.value for f in item.fields if f.name == "value" and isinstance(f.value, Message)), None)
        if key is None:
            continue
        string_value = None
        if value is not None:
            string_value = next((f.value for f in value.fields if f.name == "string_value"), None)
        entries[unquote(key)] = (item, value, string_value)
    return entries


def set_parameter(text: str, key: str, value) -> str:
    root, _ = parse(text)
    rendered = quote(render_value(value))
    found = parameter_entries(root).get(key)
    if found is None:
        block = f'parameters: {{\n  key: {quote(key)}\n  value: {{\n    string_value: {rendered}\n  }}\n}}\n'
        return text + ("" if text.endswith("\n") or not text else "\n") + block
    _, value_msg, scalar = found
    if scalar is not None:
        return text[:scalar.start] + rendered + text[scalar.end:]
    if value_msg is None:
        raise PbtxtError(f"parameters.{key}: the entry has no value block")
    return _insert_into(text, value_msg, ["string_value"], rendered)


# --------------------------------------------------------------------------- render


@dataclass
class Result:
    text: str
    config: dict
    unfilled: list[str]
    warnings: list[str]


def render(template: str, schema, placeholders=None, parameters=None, fields=None,
           ignore_unknown=False, strict=True) -> Result:
    """Fill, patch and validate; raise PbtxtError naming the place to fix."""
    from google.protobuf import json_format, text_format

    text = fill_placeholders(template, placeholders or {}, ignore_unknown)
    for key, value in (parameters or {}).items():
        text = set_parameter(text, str(key), value)
    for dotted, value in (fields or {}).items():
        text = set_field(text, schema, str(dotted), value)

    warnings, errors = [], []
    sites = [s for s in placeholder_sites(text) if s[3] != "comment"]
    unfilled = sorted({name for name, *_ in sites})
    bare = [(name, start) for name, start, _, where in sites if where == "bare"]
    if bare and strict:
        errors += [f"placeholder ${{{name}}} is unfilled at {line_col(text, start)}, where a value must be"
                   for name, start in bare]
    root, _ = parse(text)
    for key, (_, _, scalar) in parameter_entries(root).items():
        if scalar is None or not PLACEHOLDER.search(unquote(scalar)):
            continue
        if key in REQUIRED_PARAMETERS:
            if strict:
                errors.append(f"parameters.{key} is still {unquote(scalar)}: the model will not load without it")
        else:
            warnings.append(f"parameters.{key} is left as {unquote(scalar)}; the backend uses its default")
    if errors:
        raise PbtxtError("; ".join(errors))
    if bare:
        warnings.append("not validated against the schema: unfilled placeholders stand where values must be")
        return Result(text, {}, unfilled, warnings)
    message = schema()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        raise PbtxtError(f"not a valid {schema.DESCRIPTOR.name}: {err}") from None
    config = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return Result(text, config, unfilled, warnings)


def model_config_schema():
    """Triton's ModelConfig message class, from tritonclient.

    tritonclient installed without its grpc extra still ships the generated schema;
    it is then loaded on its own, since importing tritonclient.grpc needs grpcio.
    """
    try:
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        import importlib.util
        import os

        spec = importlib.util.find_spec("tritonclient")
        if spec is None or not spec.submodule_search_locations:
            raise
        path = os.path.join(list(spec.submodule_search_locations)[0], "grpc", "model_config_pb2.py")
        file_spec = importlib.util.spec_from_file_location("trtllm_deploy_model_config_pb2", path)
        model_config_pb2 = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(model_config_pb2)
    return model_config_pb2.ModelConfig
