"""Property tests for the IAM engine (hypothesis)."""

import json
import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crossreg.iam.arn import arn_match, repository_arn, wildcard_match, wildcard_to_regex
from crossreg.iam.evaluate import AuthzRequest, Decision, evaluate, statement_applies
from crossreg.iam.policy import Policy, PolicyError, parse_policy

ACCOUNTS = ["111111111111", "222222222222", "333333333333"]
ACTIONS = ["ecr:ReplicateImage", "ecr:CreateRepository", "ecr:BatchGetImage", "ecr:PutImage",
           "ecr:BatchImportUpstreamImage", "ecr:DescribeRepositories"]
RESOURCES = [repository_arn(r, a, n) for r in ("us-east-1", "eu-west-1") for a in ACCOUNTS[:2]
             for n in ("breast-cancer-classifier", "prod-api", "team/app")]

# --- arbitrary JSON-ish input ------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)

# Values that get past the first checks, so that deeper validation is exercised too.
plausible = st.sampled_from([
    "*", "Allow", "Deny", "2012-10-17", "2008-10-17", "ecr:ReplicateImage", "ecr:*", "ecr:Nope", "s3:Get*",
    "111111111111", "arn:aws:iam::111111111111:root", "arn:aws:ecr:us-east-1:222222222222:repository/*",
    "arn:aws:us-east-2:1:repository/x", "aws:SourceAccount", "10.0.0.0/8", "true", "2030-01-01", "3", "",
])
plausible_values = st.recursive(plausible | json_scalars, lambda inner: st.lists(inner, max_size=3)
                                | st.dictionaries(plausible | st.sampled_from(["AWS", "Service", "Federated"]),
                                                  inner, max_size=3), max_leaves=10)
condition_blocks = st.dictionaries(
    st.sampled_from(["StringEquals", "StringLikeIfExists", "ForAnyValue:StringEquals", "Null", "Bool",
                     "NumericLessThan", "DateGreaterThan", "IpAddress", "ArnLike", "Bogus"]) | st.text(max_size=8),
    st.dictionaries(st.sampled_from(["aws:SourceAccount", "aws:SourceIp", "bad key"]), plausible_values, max_size=2)
    | plausible_values, max_size=3)


def mostly(good, junk=plausible_values):
    """Usually a well-formed value, sometimes junk, so every validation branch gets exercised."""
    return st.sampled_from(range(10)).flatmap(lambda i: junk if i == 0 else good)


def one_or_more(strategy):
    return strategy | st.lists(strategy, max_size=3)


@st.composite
def statement_like(draw):
    s = {}
    if draw(st.booleans()):
        s["Sid"] = draw(mostly(st.sampled_from(["A", "B", "allow pull"])))
    if draw(mostly(st.just(True), st.just(False))):
        s["Effect"] = draw(mostly(st.sampled_from(["Allow", "Deny"])))
    # Usually exactly one of each X / NotX pair, sometimes neither or both.
    for key, good in [
        ("Principal", st.sampled_from(["*", {"AWS": "111111111111"}, {"Service": "ecr.amazonaws.com"}])
         | st.dictionaries(st.sampled_from(["AWS", "Service", "Federated"]), one_or_more(plausible), max_size=2)),
        ("Action", one_or_more(st.sampled_from(["ecr:ReplicateImage", "ecr:*", "ecr:Create*", "*"]) | plausible)),
        ("Resource", one_or_more(plausible)),
    ]:
        for chosen in draw(mostly(st.sampled_from([[key], [f"Not{key}"]]),
                                  st.sampled_from([[], [key, f"Not{key}"]]))):
            s[chosen] = draw(mostly(good))
    if draw(st.booleans()):
        s["Condition"] = draw(mostly(condition_blocks))
    if draw(mostly(st.just(False), st.just(True))):
        s["Extra"] = draw(plausible_values)
    return s


@st.composite
def policy_like(draw):
    doc = {}
    if draw(mostly(st.just(True), st.just(False))):
        doc["Version"] = draw(mostly(st.sampled_from(["2012-10-17", "2008-10-17"])))
    if draw(mostly(st.just(True), st.just(False))):
        doc["Statement"] = draw(mostly(statement_like() | st.lists(statement_like(), max_size=3)))
    if draw(mostly(st.just(False), st.just(True))):
        doc[draw(st.sampled_from(["Id", "Other"]))] = draw(plausible_values)
    return doc

kinds = st.sampled_from(["repository", "registry"])
scopes = st.sampled_from(["V1", "V2"])


def _parse_or_policy_error(text, kind, scope):
    try:
        assert isinstance(parse_policy(text, kind, scope), Policy)
    except PolicyError as exc:
        assert isinstance(exc.reason, str) and exc.reason


@settings(max_examples=300)
@given(value=json_values | policy_like(), kind=kinds, scope=scopes)
def test_parse_policy_only_raises_policy_error_on_json(value, kind, scope):
    _parse_or_policy_error(json.dumps(value), kind, scope)


@settings(max_examples=200)
@given(text=st.text(max_size=200) | st.text(alphabet='{}[]":,0123456789tfnaeulrsNI .-', max_size=60),
       kind=kinds, scope=scopes)
def test_parse_policy_only_raises_policy_error_on_text(text, kind, scope):
    _parse_or_policy_error(text, kind, scope)


@settings(max_examples=300)
@given(condition=condition_blocks | json_values, kind=kinds)
def test_parse_policy_only_raises_policy_error_on_any_condition(condition, kind):
    # A statement that is valid but for its Condition, so the condition parser is what gets fuzzed.
    text = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "ecr:ReplicateImage", "Resource": "*",
        "Condition": condition}]})
    _parse_or_policy_error(text, kind, "V2")


# --- valid policies and requests -----------------------------------------------------------------

principals = st.sampled_from([
    "*", {"AWS": "*"}, {"AWS": ACCOUNTS[0]}, {"AWS": f"arn:aws:iam::{ACCOUNTS[0]}:root"},
    {"AWS": [ACCOUNTS[1], f"arn:aws:iam::{ACCOUNTS[2]}:root"]}, {"AWS": f"arn:aws:iam::{ACCOUNTS[0]}:role/r"},
])
action_patterns = st.sampled_from(ACTIONS + ["ecr:*", "*", "ecr:Batch*", "ECR:replicate?mage", "ecr:Create*"])
resource_patterns = st.sampled_from(["*", "arn:aws:ecr:us-east-1:222222222222:repository/*",
                                     "arn:aws:ecr:*:222222222222:repository/prod-*",
                                     "arn:aws:ecr:*:*:repository/team/*",
                                     "arn:aws:ecr:eu-west-1:111111111111:repository/breast-cancer-classifier"])
conditions = st.sampled_from([
    {"StringEquals": {"aws:SourceAccount": ACCOUNTS[0]}},
    {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNTS[2]}},
    {"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNTS[1]}},
    {"Null": {"aws:SourceArn": "true"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"ForAllValues:StringLike": {"aws:TagKeys": ["team*"]}},
])


def one_or_list(strategy):
    return strategy | st.lists(strategy, min_size=1, max_size=3)


@st.composite
def statements(draw, effect=None):
    s = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    s["NotPrincipal" if draw(st.booleans()) and draw(st.booleans()) else "Principal"] = draw(principals)
    s["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = draw(one_or_list(action_patterns))
    s["NotResource" if draw(st.booleans()) and draw(st.booleans()) else "Resource"] = \
        draw(one_or_list(resource_patterns))
    if draw(st.booleans()):
        s["Condition"] = draw(conditions)
    return s


def policy_text(stmts):
    return json.dumps({"Version": "2012-10-17", "Statement": stmts})


policies = st.lists(statements(), min_size=1, max_size=4).map(lambda s: parse_policy(policy_text(s), "registry"))

contexts = st.fixed_dictionaries({}, optional={
    "aws:SourceAccount": st.sampled_from(ACCOUNTS),
    "aws:SourceIp": st.sampled_from(["10.1.2.3", "192.168.0.1"]),
    "aws:SecureTransport": st.booleans(),
    "aws:TagKeys": st.lists(st.sampled_from(["team", "env"]), max_size=2),
})


@st.composite
def requests(draw):
    account = draw(st.sampled_from(ACCOUNTS))
    principal = draw(st.sampled_from([f"arn:aws:iam::{account}:root", f"arn:aws:iam::{account}:role/r"]))
    return AuthzRequest(principal, account, draw(st.sampled_from(ACTIONS)), draw(st.sampled_from(RESOURCES)),
                        draw(contexts))


@given(policy_list=st.lists(policies, min_size=0, max_size=3), request=requests())
def test_evaluation_is_deterministic_and_order_independent(policy_list, request):
    decision = evaluate(policy_list, request)
    assert evaluate(policy_list, request) == decision
    assert evaluate(list(reversed(policy_list)), request) == decision
    flattened = [Policy(p.kind, p.version, tuple(reversed(p.statements))) for p in policy_list]
    assert evaluate(flattened, request) == decision


@given(policy=policies, request=requests())
def test_decision_is_derived_from_applying_statements(policy, request):
    applying = [s for s in policy.statements if statement_applies(s, request)]
    expected = (Decision.EXPLICIT_DENY if any(s.effect == "Deny" for s in applying)
                else Decision.ALLOW if applying else Decision.IMPLICIT_DENY)
    assert evaluate(policy, request) == expected


@given(policy=policies, deny=statements(effect="Deny"), request=requests())
def test_adding_a_deny_never_grants(policy, deny, request):
    before = evaluate(policy, request)
    extended = parse_policy(policy_text([*map(_raw, policy.statements), deny]), "registry")
    after = evaluate(extended, request)
    if before != Decision.ALLOW:
        assert after != Decision.ALLOW
    if before == Decision.EXPLICIT_DENY:
        assert after == Decision.EXPLICIT_DENY
    if statement_applies(extended.statements[-1], request):
        assert after == Decision.EXPLICIT_DENY
    else:
        assert after == before


@given(policy=policies, request=requests())
def test_a_deny_for_exactly_the_request_always_wins(policy, request):
    deny = parse_policy(policy_text([{"Effect": "Deny", "Principal": {"AWS": request.principal_account},
                                      "Action": request.action, "Resource": request.resource_arn}]), "registry")
    assert evaluate([policy, deny], request) == Decision.EXPLICIT_DENY


def _raw(statement):
    """Back from a parsed Statement to its JSON form (no conditions lost: rebuilt from fields)."""
    raw = {"Effect": statement.effect}
    for key, value in (("Principal", statement.principal), ("NotPrincipal", statement.not_principal)):
        if value is not None:
            raw[key] = "*" if value.wildcard and not value.aws else {"AWS": list(value.aws)}
    for key, value in (("Action", statement.actions), ("NotAction", statement.not_actions),
                       ("Resource", statement.resources), ("NotResource", statement.not_resources)):
        if value is not None:
            raw[key] = list(value)
    if statement.conditions:
        raw["Condition"] = {}
        for c in statement.conditions:
            raw["Condition"].setdefault(c.operator, {})[c.key] = list(c.values)
    return raw


@given(policy=policies, request=requests())
def test_raw_round_trip_preserves_decisions(policy, request):
    again = parse_policy(policy_text([_raw(s) for s in policy.statements]), "registry")
    assert evaluate(again, request) == evaluate(policy, request)


# --- wildcard matching ---------------------------------------------------------------------------

pattern_text = st.text(alphabet="ab*?.:/\\[]^$+()|{}\nA", max_size=10)
value_text = st.text(alphabet="ab.:/\\[]^$+()|{}\nA*?", max_size=12)


def reference_regex(pattern):
    """Independent translation: escape literal runs, then splice in the wildcards."""
    out = []
    for piece in re.split(r"([*?])", pattern):
        out.append({"*": "(?s:.*)", "?": "(?s:.)"}.get(piece, re.escape(piece)))
    return "".join(out)


def reference_match(pattern, value):
    """Independent dynamic-programming matcher (no regex)."""
    m, n = len(pattern), len(value)
    table = [[False] * (n + 1) for _ in range(m + 1)]
    table[0][0] = True
    for i in range(1, m + 1):
        table[i][0] = table[i - 1][0] and pattern[i - 1] == "*"
        for j in range(1, n + 1):
            p = pattern[i - 1]
            if p == "*":
                table[i][j] = table[i - 1][j] or table[i][j - 1]
            else:
                table[i][j] = table[i - 1][j - 1] and (p == "?" or p == value[j - 1])
    return table[m][n]


@settings(max_examples=500)
@given(pattern=pattern_text, value=value_text)
def test_wildcard_match_agrees_with_reference(pattern, value):
    expected = re.fullmatch(reference_regex(pattern), value) is not None
    assert wildcard_match(pattern, value) is expected
    assert reference_match(pattern, value) is expected
    assert (wildcard_to_regex(pattern).fullmatch(value) is not None) is expected
    folded = re.fullmatch(reference_regex(pattern), value, re.IGNORECASE) is not None
    assert wildcard_match(pattern, value, case_sensitive=False) is folded


@given(value=value_text)
def test_a_pattern_without_wildcards_matches_only_itself(value):
    assume("*" not in value and "?" not in value)
    assert wildcard_match(value, value)
    assert not wildcard_match(value, value + "x")


@given(parts=st.lists(st.text(alphabet="ab*?-/", min_size=1, max_size=5), min_size=6, max_size=6),
       values=st.lists(st.text(alphabet="ab-/", min_size=1, max_size=5), min_size=6, max_size=6))
def test_arn_match_is_componentwise(parts, values):
    pattern, value = ":".join(parts), ":".join(values)
    assume(pattern != "*")
    expected = all(reference_match(p, v) for p, v in zip(parts, values))
    assert arn_match(pattern, value) is expected
