"""Property tests of validate_input over every operation in the ECR model.

1. Anything a well-behaved client can send (values generated from the model's own constraints,
   checked by botocore's validator and serialized by botocore's JSON serializer) is accepted and
   comes back unchanged (blobs as bytes).
2. Arbitrary JSON, and model-shaped JSON with arbitrary values at any depth, only ever raises
   EcrError.
"""

import json
import re

import pytest
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossreg.ecr import protocol
from crossreg.ecr.errors import EcrError

MODEL = protocol.service_model()
OPERATIONS = protocol.operation_names()

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def valid_strategy(shape, fuzz=False, depth=0):
    """Values satisfying the shape's constraints; with fuzz, any node may instead be random JSON."""
    strategy = _valid(shape, fuzz, depth)
    return st.one_of(strategy, JSON) if fuzz else strategy


def _valid(shape, fuzz, depth):
    meta, kind = shape.metadata, shape.type_name
    if kind == "structure":
        if depth > 6:
            return st.just({})
        required = {n: valid_strategy(m, fuzz, depth + 1) for n, m in shape.members.items()
                    if n in shape.required_members}
        optional = {n: valid_strategy(m, fuzz, depth + 1) for n, m in shape.members.items()
                    if n not in shape.required_members}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        lo = meta.get("min", 0)
        hi = max(lo, min(meta.get("max", 3), 3))
        return st.lists(valid_strategy(shape.member, fuzz, depth + 1), min_size=lo, max_size=hi)
    if kind == "map":
        return st.dictionaries(valid_strategy(shape.key, False, depth + 1),
                               valid_strategy(shape.value, fuzz, depth + 1), max_size=3)
    if kind == "string":
        if "enum" in meta:
            return st.sampled_from(meta["enum"])
        lo, hi = meta.get("min", 0), meta.get("max", 64)
        if "pattern" in meta:
            # ASCII: Java's \w and \s (what the model's patterns mean) are ASCII-only.
            return st.from_regex(re.compile(_bounded(meta["pattern"]), re.ASCII), fullmatch=True).filter(lambda s: lo <= len(s) <= hi)
        return st.text(min_size=lo, max_size=min(hi, max(lo, 40)))
    if kind in ("integer", "long"):
        bits = 31 if kind == "integer" else 63
        return st.integers(min_value=meta.get("min", -(2 ** bits)), max_value=meta.get("max", 2 ** bits - 1))
    if kind == "boolean":
        return st.booleans()
    if kind in ("double", "float"):
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "blob":
        return st.binary(max_size=64)
    if kind == "timestamp":
        return st.integers(min_value=0, max_value=2 ** 32)
    raise AssertionError(f"unhandled shape type {kind}")


def _bounded(pattern: str) -> str:
    """The pattern with `*`/`+` capped at a few repetitions: a subset of its language that keeps
    generated values short (nested unbounded repeats make from_regex produce huge strings)."""
    out, in_class, escaped = [], False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif not in_class and ch in "*+":
            ch = "{0,2}" if ch == "*" else "{1,3}"
        out.append(ch)
    return "".join(out)


def _input_shape(operation):
    return MODEL.operation_model(operation).input_shape


@pytest.mark.parametrize("operation", OPERATIONS)
def test_botocore_serialized_valid_input_is_accepted(operation):
    op_model = MODEL.operation_model(operation)
    serializer = create_serializer("json")
    validator = ParamValidator()

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(valid_strategy(op_model.input_shape))
    def check(params):
        assert not validator.validate(params, op_model.input_shape).has_errors()
        body = serializer.serialize_to_request(params, op_model)["body"]
        assert protocol.parse_request(operation, body) == params

    check()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_arbitrary_json_only_raises_ecr_error(operation):
    shape = _input_shape(operation)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(JSON, valid_strategy(shape, fuzz=True)))
    def check(params):
        try:
            out = protocol.validate_input(operation, params)
        except EcrError as e:
            assert e.code in {"InvalidParameterException", "SerializationException"}, e
            assert e.http_status == 400
            json.loads(e.to_body())
        else:
            assert isinstance(out, dict)
            assert set(out) <= set(shape.members)

    check()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parse_request_on_random_bytes_only_raises_ecr_error(body):
    try:
        protocol.parse_request("CreateRepository", body)
    except EcrError as e:
        assert e.code in {"InvalidParameterException", "SerializationException"}
