"""docs/ecr-compatibility.md cannot drift: its operations table must list exactly the operations
of botocore's ECR model, with the status crossreg really has and, for unsupported operations,
the exact error the server answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crossreg.ecr import errors, protocol, registry
from crossreg.ecr.ops.unsupported import unsupported_error, unsupported_reason

DOC = Path(__file__).resolve().parents[2] / "docs" / "ecr-compatibility.md"
_ROW = re.compile(r"^\| `(?P<op>[A-Za-z]+)` \| (?P<area>[^|]*) \| (?P<status>[^|]*) \| (?P<notes>.*) \|$")


def table() -> dict[str, dict]:
    text = DOC.read_text()
    body = text.split("<!-- operations-table:start -->", 1)[1].split("<!-- operations-table:end -->", 1)[0]
    rows = {}
    for line in body.strip().splitlines()[2:]:  # header and separator
        m = _ROW.match(line.strip())
        assert m, f"not a table row: {line!r}"
        assert m["op"] not in rows, f"{m['op']} is listed twice"
        rows[m["op"]] = {k: v.strip() for k, v in m.groupdict().items()}
    return rows


def expected(op: str) -> tuple[str, str | None]:
    """(status, the exact answer for an unsupported operation)."""
    registered = registry.registered().get(op)
    if registered is None:
        err = errors.unsupported_operation(op)  # what the API answers for unregistered ones
    elif unsupported_reason(registered.handler):
        err = unsupported_error(op, unsupported_reason(registered.handler))
    else:
        return "implemented", None
    return "unsupported", f"`{err.code}`: {err.message}"


def test_every_model_operation_is_listed_once():
    listed = set(table())
    model = set(registry.model_operations())
    assert listed - model == set(), "operations in the table that the model does not have"
    assert model - listed == set(), "model operations missing from the table:\n" + "\n".join(
        f"| `{op}` | ... | {expected(op)[0]} | {expected(op)[1] or ''} |" for op in sorted(model - listed))
    assert len(model) == len(protocol.operation_names())


def test_operations_appear_in_alphabetical_order():
    assert list(table()) == sorted(table())


@pytest.mark.parametrize("op", sorted(registry.model_operations()))
def test_status_and_answer_match_the_server(op):
    row = table()[op]
    status, answer = expected(op)
    assert row["status"] == status, f"{op}: the table says {row['status']}, crossreg has it {status}"
    if answer is not None:
        assert row["notes"] == answer


def test_the_intro_states_the_real_count():
    assert f"{len(registry.model_operations())}\noperations" in DOC.read_text() or \
        f"{len(registry.model_operations())} operations" in DOC.read_text()
