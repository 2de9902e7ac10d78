"""Model-driven request validation and response serialization for the ECR JSON API.

Everything here is derived from botocore's ECR service model, the same file the clients use, so
crossreg accepts exactly what `boto3` / `aws ecr` may send and never emits a field they do not
know. Pure functions only: no HTTP, no database.

Validation (`validate_input`) enforces what botocore does not check client-side (max, pattern,
enum) plus everything it does (required, types, min), for callers that are not botocore.

Error rules, chosen to match real ECR / AWS Coral services:

* Constraint violations -> `InvalidParameterException`, message
  `Invalid parameter at '<path>' failed to satisfy constraint: '<reason>'` with Coral's reasons
  (`Member must have length less than or equal to 256`, `Member must have value greater than or
  equal to 1`, `Member must satisfy regular expression pattern: <p>`, `Member must satisfy enum
  value set: [A, B]`, `Member must not be null`).
* Path format (Coral's): top-level members by name (`repositoryName`); nested structures joined
  with dots (`imageScanningConfiguration.scanOnPush`); elements of a list of structures as
  `<list>.<1-based index>.member.<field>` (`imageTagMutabilityExclusionFilters.1.member.filter`).
  A bad element of a list of scalars is reported at the list, with the reason wrapped the way
  real ECR does it: `Invalid parameter at 'registryIds' failed to satisfy constraint: 'Member
  must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]{12}]'`. Map
  keys/values: `Map keys must satisfy constraint: [...]` / `Map value must satisfy ...`.
* Repository names are checked by ECR itself with its own text, reported at `repositoryName`
  (also for `repositoryNames` elements): `... 'must satisfy regular expression '(?:[a-z0-9]+
  (?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''`. Acceptance follows the (wider) model
  pattern; every name it rejects also fails the quoted one, so the message is never false.
* Wrong JSON types (a string for an integer, an object for a string, bad base64 for a blob,
  a body that is not a JSON object) -> `SerializationException`, as Coral's JSON layer does.
* Unknown members are ignored and dropped, like AWS's awsJson services do (clients send only
  modeled members; newer clients may send members this model does not have yet). JSON `null`
  counts as absent.
* Only the first violation is reported (ECR reports one at a time).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import enum
import functools
import json
import math
import os
import re
from collections.abc import Callable
from typing import Any

from crossreg.ecr import errors
from crossreg.ecr.model import service_model

TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921"
CONTENT_TYPE = "application/x-amz-json-1.1"

# Serializing a key the output shape does not declare raises by default, so tests and dev catch
# extra fields; CROSSREG_STRICT_OUTPUT=0 drops them silently instead.
STRICT_OUTPUT = os.environ.get("CROSSREG_STRICT_OUTPUT", "1") != "0"

# The text real ECR quotes when it rejects a repository name (see module docstring).
ECR_REPOSITORY_NAME_MESSAGE_PATTERN = "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"

# Model patterns that backtrack exponentially in a backtracking engine (Python's re), mapped
# to an equivalent linear form. ScanningRepositoryFilterValue takes ~30 s on 24 chars + "!".
# Equivalence is checked by the unit tests.
_SAFE_PATTERNS = {
    r"^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$": r"^[a-z0-9*]+(?:[._\-/][a-z0-9*]+)*$",
}

_INT32 = (-(2 ** 31), 2 ** 31 - 1)
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


class OutputShapeError(Exception):
    """A handler returned something the operation's output shape does not allow (a bug in
    crossreg, never the client's fault; the API layer answers it with ServerException)."""


@functools.cache
def operation_names() -> tuple[str, ...]:
    return tuple(sorted(service_model().operation_names))


@functools.cache
def _operation_set() -> frozenset[str]:
    return frozenset(operation_names())


def _operation(operation_name: str):
    if operation_name not in _operation_set():
        raise errors.unknown_operation(operation_name)
    return service_model().operation_model(operation_name)


@functools.cache
def error_codes(operation_name: str) -> tuple[str, ...]:
    """Error codes the model declares for an operation, e.g. ('ServerException', ...)."""
    return tuple(s.name for s in _operation(operation_name).error_shapes)


def operation_for_target(target: str | None) -> str:
    """`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Op>` -> `<Op>`; anything else is
    UnknownOperationException."""
    if target:
        prefix, dot, name = target.partition(".")
        if dot and prefix == TARGET_PREFIX and name in _operation_set():
            return name
    raise errors.unknown_operation(target)


# --- input validation -------------------------------------------------------------------------

class _Violation(Exception):
    """A constraint failed; the enclosing structure/list adds the path (or wraps the reason)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _json_token(value: Any) -> str:
    # Jackson token names, which is what Coral's SerializationException messages use.
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, (int, float)):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    if value is None:
        return "NULL_VALUE"
    return type(value).__name__.upper()


def _type_error(value: Any, java_type: str) -> errors.EcrError:
    if isinstance(value, dict):
        return errors.serialization_error("Start of structure or map found where not expected.")
    if isinstance(value, list):
        return errors.serialization_error("Start of list found where not expected.")
    article = "an" if java_type[0] in "AEIOU" else "a"
    return errors.serialization_error(f"{_json_token(value)} can not be converted to {article} "
                                      f"{java_type}")


def _length_checks(meta: dict) -> tuple[int | None, int | None]:
    lo, hi = meta.get("min"), meta.get("max")
    return (lo if lo else None), hi


def _length_reason(n: int, lo: int | None, hi: int | None) -> str | None:
    if hi is not None and n > hi:
        return f"Member must have length less than or equal to {hi}"
    if lo is not None and n < lo:
        return f"Member must have length greater than or equal to {lo}"
    return None


Converter = Callable[[Any, str], Any]


class _Compiler:
    """Turns model shapes into converter closures `(value, path) -> value`, once per shape."""

    def __init__(self, model):
        self.model = model
        self.cache: dict[str, Converter] = {}

    def get(self, shape) -> Converter:
        conv = self.cache.get(shape.name)
        if conv is None:
            # Placeholder first so a recursive shape resolves to the finished converter.
            cache, name = self.cache, shape.name
            cache[name] = lambda v, p: cache[name](v, p)
            conv = cache[name] = getattr(self, "_" + shape.type_name)(shape)
        return conv

    def _structure(self, shape) -> Converter:
        members = [(name, self.get(m), name in shape.required_members)
                   for name, m in shape.members.items()]

        def convert(value, path):
            if not isinstance(value, dict):
                raise _type_error(value, "Structure")
            out = {}
            for name, conv, required in members:
                v = value.get(name)
                mpath = f"{path}.{name}" if path else name
                if v is None:
                    if required:
                        raise errors.invalid_parameter(mpath, "Member must not be null")
                    continue
                try:
                    out[name] = conv(v, mpath)
                except _Violation as e:
                    raise errors.invalid_parameter(mpath, e.reason) from None
            return out
        return convert

    def _list(self, shape) -> Converter:
        lo, hi = _length_checks(shape.metadata)
        member = self.get(shape.member)

        def convert(value, path):
            if not isinstance(value, list):
                raise _type_error(value, "List")
            reason = _length_reason(len(value), lo, hi)
            if reason:
                raise _Violation(reason)
            out = []
            for i, item in enumerate(value, 1):
                if item is None:
                    raise _Violation("Member must satisfy constraint: [Member must not be null]")
                try:
                    out.append(member(item, f"{path}.{i}.member"))
                except _Violation as e:
                    # Only scalar (or nested list/map) elements get here; structures raise
                    # with their own full path.
                    raise _Violation(f"Member must satisfy constraint: [{e.reason}]") from None
            return out
        return convert

    def _map(self, shape) -> Converter:
        lo, hi = _length_checks(shape.metadata)
        key_conv, value_conv = self.get(shape.key), self.get(shape.value)

        def convert(value, path):
            if not isinstance(value, dict):
                raise _type_error(value, "Map")
            reason = _length_reason(len(value), lo, hi)
            if reason:
                raise _Violation(reason)
            out = {}
            for k, v in value.items():
                try:
                    k = key_conv(k, path)
                except _Violation as e:
                    raise _Violation(f"Map keys must satisfy constraint: [{e.reason}]") from None
                if v is None:
                    raise _Violation("Map value must satisfy constraint: [Member must not be null]")
                try:
                    out[k] = value_conv(v, f"{path}.{k}.member")
                except _Violation as e:
                    raise _Violation(f"Map value must satisfy constraint: [{e.reason}]") from None
            return out
        return convert

    def _string(self, shape) -> Converter:
        meta = shape.metadata
        lo, hi = _length_checks(meta)
        enum_values = frozenset(meta["enum"]) if "enum" in meta else None
        enum_reason = ("Member must satisfy enum value set: [" + ", ".join(meta["enum"]) + "]"
                       if enum_values else "")
        pattern = meta.get("pattern")
        matcher = _compile_pattern(pattern) if pattern else None
        repository_name = shape.name == "RepositoryName"

        def convert(value, path):
            if not isinstance(value, str):
                raise _type_error(value, "String")
            reason = _length_reason(len(value), lo, hi)
            if reason:
                raise _Violation(reason)
            if matcher is not None and matcher(value) is None:
                if repository_name:
                    raise errors.invalid_parameter(
                        "repositoryName",
                        f"must satisfy regular expression '{ECR_REPOSITORY_NAME_MESSAGE_PATTERN}'")
                raise _Violation(f"Member must satisfy regular expression pattern: {pattern}")
            if enum_values is not None and value not in enum_values:
                raise _Violation(enum_reason)
            return value
        return convert

    def _number(self, shape, bounds: tuple[int, int], java_type: str) -> Converter:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")

        def convert(value, path):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _type_error(value, java_type)
            if isinstance(value, float):
                # Jackson accepts 5.0 for an int field; a fraction or NaN/inf is a type error.
                if not value.is_integer():
                    raise _type_error(value, java_type)
                value = int(value)
            if not bounds[0] <= value <= bounds[1]:
                raise errors.serialization_error(
                    f"Numeric value ({value}) out of range of {java_type}")
            if hi is not None and value > hi:
                raise _Violation(f"Member must have value less than or equal to {hi}")
            if lo is not None and value < lo:
                raise _Violation(f"Member must have value greater than or equal to {lo}")
            return value
        return convert

    def _integer(self, shape) -> Converter:
        return self._number(shape, _INT32, "Integer")

    def _long(self, shape) -> Converter:
        return self._number(shape, _INT64, "Long")

    def _boolean(self, shape) -> Converter:
        def convert(value, path):
            if not isinstance(value, bool):
                raise _type_error(value, "Boolean")
            return value
        return convert

    def _double(self, shape) -> Converter:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")

        def convert(value, path):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise _type_error(value, "Double")
            if hi is not None and value > hi:
                raise _Violation(f"Member must have value less than or equal to {hi}")
            if lo is not None and value < lo:
                raise _Violation(f"Member must have value greater than or equal to {lo}")
            return float(value)
        return convert

    _float = _double

    def _blob(self, shape) -> Converter:
        lo, hi = _length_checks(shape.metadata)

        def convert(value, path):
            # awsJson sends blobs as base64 strings; handlers get the bytes.
            if not isinstance(value, str):
                raise _type_error(value, "ByteBuffer")
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise errors.serialization_error("Base64 encoded value is not valid") from None
            reason = _length_reason(len(data), lo, hi)
            if reason:
                raise _Violation(reason)
            return data
        return convert

    def _timestamp(self, shape) -> Converter:
        def convert(value, path):
            # awsJson timestamps are epoch seconds (JSON number).
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _type_error(value, "Date")
            try:
                return _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
            except (OverflowError, OSError, ValueError):
                raise errors.serialization_error(
                    f"Numeric value ({value}) out of range of Date") from None
        return convert


@functools.cache
def _compile_pattern(pattern: str) -> Callable[[str], Any]:
    # The model's patterns are Java regexes with String.matches() semantics (whole value).
    # re.ASCII makes \w, \s, \d ASCII-only like Java's defaults.
    return re.compile(_SAFE_PATTERNS.get(pattern, pattern), re.ASCII).fullmatch


@functools.cache
def _input_compiler() -> _Compiler:
    return _Compiler(service_model())


@functools.cache
def _input_converter(operation_name: str) -> Converter | None:
    shape = _operation(operation_name).input_shape
    return _input_compiler().get(shape) if shape is not None else None


def validate_input(operation_name: str, params: Any) -> dict:
    """Validate a decoded request body against the operation's input shape.

    Returns a new dict holding only modeled members, with blobs decoded to bytes and integral
    floats turned into ints. Raises only `EcrError` (InvalidParameterException,
    SerializationException, or UnknownOperationException for a name not in the model).
    """
    conv = _input_converter(operation_name)
    if conv is None:
        return {}
    if not isinstance(params, dict):
        raise _type_error(params, "Structure")
    return conv(params, "")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_request(operation_name: str, body: bytes) -> dict:
    """Decode an awsJson request body and validate it. An empty body counts as `{}`."""
    if not body.strip():
        params: Any = {}
    else:
        try:
            params = json.loads(body, parse_constant=_reject_constant)
        except RecursionError:
            raise errors.serialization_error("Request body is nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise errors.serialization_error(f"Could not parse request body as JSON: {e}") from None
    return validate_input(operation_name, params)


# --- output serialization ----------------------------------------------------------------------

class _OutputCompiler:
    """Converters `(value, path, strict) -> JSON-ready value` for output shapes."""

    def __init__(self):
        self.cache: dict[str, Callable] = {}

    def get(self, shape) -> Callable:
        conv = self.cache.get(shape.name)
        if conv is None:
            cache, name = self.cache, shape.name
            cache[name] = lambda v, p, s: cache[name](v, p, s)
            conv = cache[name] = getattr(self, "_" + shape.type_name)(shape)
        return conv

    def _structure(self, shape) -> Callable:
        members = {name: self.get(m) for name, m in shape.members.items()}
        shape_name = shape.name

        def convert(value, path, strict):
            if not isinstance(value, dict):
                raise OutputShapeError(f"{path or '<root>'}: expected a dict for {shape_name}, "
                                       f"got {type(value).__name__}")
            out = {}
            for key, v in value.items():
                if v is None:
                    continue
                conv = members.get(key)
                mpath = f"{path}.{key}" if path else key
                if conv is None:
                    if strict:
                        raise OutputShapeError(f"{mpath}: not a member of {shape_name}")
                    continue
                out[key] = conv(v, mpath, strict)
            return out
        return convert

    def _list(self, shape) -> Callable:
        member = self.get(shape.member)

        def convert(value, path, strict):
            if not isinstance(value, (list, tuple)):
                raise OutputShapeError(f"{path}: expected a list, got {type(value).__name__}")
            return [member(v, f"{path}[{i}]", strict) for i, v in enumerate(value)]
        return convert

    def _map(self, shape) -> Callable:
        value_conv = self.get(shape.value)

        def convert(value, path, strict):
            if not isinstance(value, dict):
                raise OutputShapeError(f"{path}: expected a dict, got {type(value).__name__}")
            return {str(k): value_conv(v, f"{path}.{k}", strict)
                    for k, v in value.items() if v is not None}
        return convert

    def _string(self, shape) -> Callable:
        def convert(value, path, strict):
            if isinstance(value, enum.Enum):
                value = value.value
            if not isinstance(value, str):
                raise OutputShapeError(f"{path}: expected str, got {type(value).__name__}")
            return value
        return convert

    def _integer(self, shape) -> Callable:
        def convert(value, path, strict):
            if isinstance(value, bool) or not isinstance(value, int):
                raise OutputShapeError(f"{path}: expected int, got {type(value).__name__}")
            return value
        return convert

    _long = _integer

    def _boolean(self, shape) -> Callable:
        def convert(value, path, strict):
            if not isinstance(value, bool):
                raise OutputShapeError(f"{path}: expected bool, got {type(value).__name__}")
            return value
        return convert

    def _double(self, shape) -> Callable:
        def convert(value, path, strict):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OutputShapeError(f"{path}: expected a number, got {type(value).__name__}")
            return value
        return convert

    _float = _double

    def _blob(self, shape) -> Callable:
        def convert(value, path, strict):
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise OutputShapeError(f"{path}: expected bytes, got {type(value).__name__}")
            return base64.b64encode(value).decode("ascii")
        return convert

    def _timestamp(self, shape) -> Callable:
        def convert(value, path, strict):
            # awsJson: epoch seconds as a JSON number; naive datetimes are taken as UTC.
            if isinstance(value, _dt.datetime):
                if value.tzinfo is None:
                    value = value.replace(tzinfo=_dt.timezone.utc)
                return value.timestamp()
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
            raise OutputShapeError(f"{path}: expected datetime, got {type(value).__name__}")
        return convert


@functools.cache
def _output_compiler() -> _OutputCompiler:
    return _OutputCompiler()


@functools.cache
def _output_converter(operation_name: str):
    shape = _operation(operation_name).output_shape
    return _output_compiler().get(shape) if shape is not None else None


def serialize_output(operation_name: str, result: dict | None, *,
                     strict: bool | None = None) -> bytes:
    """Serialize a handler's result as the awsJson response body.

    datetime -> epoch seconds (float), bytes -> base64, None values dropped. A key that is not
    in the output shape raises OutputShapeError (or is dropped when strict is False), so no
    field outside the model ever reaches a client.
    """
    conv = _output_converter(operation_name)
    if conv is None or not result:
        if result and (STRICT_OUTPUT if strict is None else strict):
            raise OutputShapeError(f"{operation_name} has no output members")
        return b"{}"
    body = conv(result, "", STRICT_OUTPUT if strict is None else strict)
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
