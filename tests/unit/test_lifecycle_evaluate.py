"""The lifecycle evaluator against ECR's documented examples and its evaluation rules."""

from __future__ import annotations

import json
import random

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crossreg.lifecycle.evaluate import (
    ImageInfo,
    deletion_order,
    evaluate,
    rule_marks,
    rule_matches,
    tag_matches_pattern,
)
from crossreg.lifecycle.policy import LifecyclePolicy, Rule, parse_policy

DAY = 86400.0
NOW = 1_800_000_000.0


def img(name: str, tags=(), days_ago: float = 0.0, pulled_days_ago: float | None = None, parents=()):
    return ImageInfo(digest=f"sha256:{name}", tags=tuple(tags), pushed_at=NOW - days_ago * DAY,
                     last_pulled_at=None if pulled_days_ago is None else NOW - pulled_days_ago * DAY,
                     parents=frozenset(f"sha256:{p}" for p in parents))


def policy(*rules: dict) -> LifecyclePolicy:
    return parse_policy(json.dumps({"rules": list(rules)}))


def rule(priority, tag_status, count_type="imageCountMoreThan", count_number=1, **selection):
    sel = {"tagStatus": tag_status, "countType": count_type, "countNumber": count_number, **selection}
    if count_type != "imageCountMoreThan":
        sel["countUnit"] = "days"
    return {"rulePriority": priority, "selection": sel, "action": {"type": "expire"}}


def expired(pol, images, now=NOW) -> dict[str, int]:
    return {e.digest.removeprefix("sha256:"): e.rule_priority for e in evaluate(pol, images, now)}


# --- the user guide's worked examples -------------------------------------------------------------

REPO_ABC = [img("A", ["beta-1", "prod-1"], 10), img("B", ["beta-2", "prod-2"], 9), img("C", ["beta-3"], 8)]


def test_guide_multiple_rules_example_a():
    pol = policy(rule(1, "tagged", tagPrefixList=["prod"]), rule(2, "tagged", tagPrefixList=["beta"]))
    # Rule 2 would mark A and B, but rule 1 saw both: only A goes (by rule 1).
    assert expired(pol, REPO_ABC) == {"A": 1}


def test_guide_multiple_rules_example_b():
    pol = policy(rule(1, "tagged", tagPrefixList=["beta"]), rule(2, "tagged", tagPrefixList=["prod"]))
    assert expired(pol, REPO_ABC) == {"A": 1, "B": 1}


def test_guide_multiple_tags_example_a():
    images = [img("A", ["alpha-1"], 12), img("B", ["beta-1"], 11), img("C", ["alpha-2", "beta-2"], 10),
              img("D", ["alpha-3"], 4), img("E", ["beta-3"], 3), img("F", ["alpha-4", "beta-4"], 2)]
    pol = policy(rule(1, "tagged", "sinceImagePushed", 5, tagPrefixList=["alpha", "beta"]))
    assert expired(pol, images) == {"C": 1}


def test_guide_multiple_tags_example_b():
    images = [img("A", ["alpha-1", "beta-1", "gamma-1"], 10), img("B", ["alpha-2", "beta-2"], 9),
              img("C", ["alpha-3", "beta-3", "gamma-2"], 8)]
    pol = policy(rule(1, "tagged", tagPrefixList=["alpha", "beta"]))
    assert expired(pol, images) == {"A": 1, "B": 1}


def test_guide_untagged_age_and_count():
    images = [img("old", [], 20), img("new", [], 1), img("tagged-old", ["v1"], 30)]
    assert expired(policy(rule(1, "untagged", "sinceImagePushed", 14)), images) == {"old": 1}
    assert expired(policy(rule(1, "untagged", count_number=1)), images) == {"old": 1}


def test_any_rule_after_protective_rule():
    # The re:Post recipe: a tagged rule keeps the newest "main" image; everything else older
    # than 60 days goes -- but the any rule cannot touch images the first rule matched.
    images = [img("main-old", ["main"], 100), img("x", ["feature"], 90), img("y", [], 70), img("z", [], 10)]
    pol = policy(rule(1, "tagged", tagPatternList=["main"], count_number=1),
                 rule(2, "any", "sinceImagePushed", 60))
    assert expired(pol, images) == {"x": 2, "y": 2}


def test_counting_includes_images_matched_by_higher_rules():
    # Rule 2 keeps the newest 2 of everything, counting the image rule 1 protects.
    images = [img("keep", ["release-1"], 1), img("a", [], 2), img("b", [], 3)]
    pol = policy(rule(1, "tagged", "sinceImagePushed", 365, tagPrefixList=["release"]),
                 rule(2, "any", count_number=2))
    assert expired(pol, images) == {"b": 2}


# --- matching -----------------------------------------------------------------------------------

def test_patterns_match_whole_tags():
    assert tag_matches_pattern("prod", "prod")
    assert not tag_matches_pattern("prod1", "prod")
    assert tag_matches_pattern("prod1", "prod*")
    assert tag_matches_pattern("prod", "prod*")
    assert tag_matches_pattern("my-test-1-2-3", "*test*1*2*3")
    assert not tag_matches_pattern("x.y", "x?y")
    assert tag_matches_pattern("a.b", "a.b") and not tag_matches_pattern("axb", "a.b")
    assert tag_matches_pattern("anything", "*")


def test_rule_matching():
    tagged = Rule(1, "tagged", "imageCountMoreThan", 1, tag_prefixes=("v",))
    assert rule_matches(tagged, img("a", ["v1"])) and not rule_matches(tagged, img("a", ["x1"]))
    assert not rule_matches(tagged, img("a", []))
    assert rule_matches(Rule(1, "untagged", "imageCountMoreThan", 1), img("a"))
    assert not rule_matches(Rule(1, "untagged", "imageCountMoreThan", 1), img("a", ["t"]))
    assert rule_matches(Rule(1, "any", "imageCountMoreThan", 1), img("a", ["t"]))


def test_since_image_pulled_uses_push_time_when_never_pulled():
    images = [img("pulled-recently", [], 100, pulled_days_ago=1), img("pulled-long-ago", [], 100, pulled_days_ago=50),
              img("never-pulled-old", [], 40), img("never-pulled-new", [], 5)]
    assert expired(policy(rule(1, "untagged", "sinceImagePulled", 30)), images) == \
        {"pulled-long-ago": 1, "never-pulled-old": 1}


def test_age_is_strictly_older_than():
    r = Rule(1, "any", "sinceImagePushed", 1, count_unit="days")
    assert rule_marks(r, [img("a", [], 1)], NOW) == []
    assert rule_marks(r, [img("a", [], 1.0001)], NOW) == [img("a", [], 1.0001)]


def test_equal_push_times_break_ties_by_digest():
    images = [img(n, [], 1) for n in "cab"]
    assert expired(policy(rule(1, "untagged", count_number=1)), images) == {"b": 1, "c": 1}


# --- manifest lists -----------------------------------------------------------------------------

def test_children_of_a_kept_index_are_kept():
    images = [img("index", ["v1"], 1), img("amd64", [], 30, parents=["index"]), img("arm64", [], 30, parents=["index"])]
    assert expired(policy(rule(1, "untagged", "sinceImagePushed", 7)), images) == {}


def test_children_go_with_their_index():
    images = [img("index", [], 30), img("amd64", [], 30, parents=["index"]), img("arm64", [], 30, parents=["index"])]
    result = evaluate(policy(rule(1, "untagged", "sinceImagePushed", 7)), images, NOW)
    assert {e.digest for e in result} == {"sha256:index", "sha256:amd64", "sha256:arm64"}
    order = [e.digest for e in deletion_order(result)]
    assert order[0] == "sha256:index"


def test_a_child_shared_with_a_kept_index_stays():
    images = [img("old-index", [], 30), img("new-index", ["v2"], 1),
              img("shared", [], 30, parents=["old-index", "new-index"])]
    assert expired(policy(rule(1, "untagged", "sinceImagePushed", 7)), images) == {"old-index": 1}


def test_deletion_order_nested_indexes():
    images = [img("top", [], 30), img("mid", [], 30, parents=["top"]), img("leaf", [], 30, parents=["mid"])]
    result = evaluate(policy(rule(1, "untagged", "sinceImagePushed", 7)), images, NOW)
    assert [e.digest for e in deletion_order(result)] == ["sha256:top", "sha256:mid", "sha256:leaf"]


# --- properties ---------------------------------------------------------------------------------

TAGS = ["latest", "prod-1", "prod-2", "beta-1", "v1.0", "v2.0", "release-2024", "main"]
images_strategy = st.lists(
    st.tuples(st.lists(st.sampled_from(TAGS), max_size=3, unique=True), st.integers(0, 60 * 24),
              st.one_of(st.none(), st.integers(0, 60 * 24))),
    max_size=14,
).map(lambda items: _assign_unique_tags(items))


def _assign_unique_tags(items):
    # A tag names one image: give each tag to the first image that wants it.
    seen, images = set(), []
    for n, (tags, hours, pulled) in enumerate(items):
        mine = [t for t in tags if t not in seen]
        seen.update(mine)
        images.append(ImageInfo(f"sha256:{n:04d}", tuple(sorted(mine)), NOW - hours * 3600.0,
                                None if pulled is None else NOW - pulled * 3600.0))
    return images


selection_strategy = st.one_of(
    st.just({"tagStatus": "untagged"}),
    st.builds(lambda p: {"tagStatus": "tagged", "tagPrefixList": p},
              st.lists(st.sampled_from(["prod", "beta", "v", "release", "latest", "m"]), min_size=1, max_size=2)),
    st.builds(lambda p: {"tagStatus": "tagged", "tagPatternList": p},
              st.lists(st.sampled_from(["prod-*", "*1*", "v*.0", "latest", "*", "rel*20*"]), min_size=1, max_size=2)),
)
count_strategy = st.one_of(
    st.builds(lambda n: {"countType": "imageCountMoreThan", "countNumber": n}, st.integers(1, 6)),
    st.builds(lambda t, n: {"countType": t, "countUnit": "days", "countNumber": n},
              st.sampled_from(["sinceImagePushed", "sinceImagePulled"]), st.integers(1, 40)),
)


@st.composite
def policies(draw):
    n = draw(st.integers(1, 4))
    priorities = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n, unique=True))
    selections = [draw(selection_strategy) for _ in range(n)]
    # ECR's rules: at most one untagged rule; an optional any rule, last.
    seen_untagged = False
    for i, sel in enumerate(selections):
        if sel["tagStatus"] == "untagged":
            if seen_untagged:
                selections[i] = {"tagStatus": "tagged", "tagPrefixList": ["v"]}
            seen_untagged = True
    rules = [{"rulePriority": p, "selection": {**sel, **draw(count_strategy)}, "action": {"type": "expire"}}
             for p, sel in zip(priorities, selections)]
    if draw(st.booleans()):
        rules.append({"rulePriority": max(priorities) + 1, "selection": {"tagStatus": "any", **draw(count_strategy)},
                      "action": {"type": "expire"}})
    draw(st.randoms()).shuffle(rules)
    return parse_policy(json.dumps({"rules": rules}))


def _oracle(pol: LifecyclePolicy, images: list[ImageInfo], now: float) -> dict[str, int]:
    """ECR's rules restated per image: the first rule (by priority) whose tag selection matches
    the image decides; the image expires iff that rule's count criterion marks it."""
    out = {}
    for image in images:
        first = next((r for r in pol.rules if rule_matches(r, image)), None)
        if first is None:
            continue
        matched = [i for i in images if rule_matches(first, i)]
        if image in rule_marks(first, matched, now):
            out[image.digest] = first.priority
    return out


@settings(max_examples=400, deadline=None)
@given(policies(), images_strategy)
def test_matches_per_image_restatement(pol, images):
    assert {e.digest: e.rule_priority for e in evaluate(pol, images, NOW)} == _oracle(pol, images, NOW)


@settings(max_examples=200, deadline=None)
@given(policies(), images_strategy, st.randoms())
def test_independent_of_input_order(pol, images, rnd):
    shuffled = list(images)
    rnd.shuffle(shuffled)
    assert evaluate(pol, images, NOW) == evaluate(pol, shuffled, NOW)


@settings(max_examples=200, deadline=None)
@given(policies(), images_strategy)
def test_no_image_expired_twice_or_by_a_rule_below_one_that_matched_it(pol, images):
    result = evaluate(pol, images, NOW)
    digests = [e.digest for e in result]
    assert len(digests) == len(set(digests))
    by_digest = {i.digest: i for i in images}
    for exp in result:
        assert exp.image == by_digest[exp.digest]
        rule = next(r for r in pol.rules if r.priority == exp.rule_priority)
        assert rule_matches(rule, exp.image)
        assert not any(rule_matches(r, exp.image) for r in pol.rules if r.priority < exp.rule_priority)


@settings(max_examples=200, deadline=None)
@given(images_strategy, st.integers(1, 8), st.sampled_from(["untagged", "any"]))
def test_count_rule_keeps_exactly_the_newest(images, keep, status):
    pol = policy(rule(1, status, count_number=keep))
    matched = [i for i in images if rule_matches(pol.rules[0], i)]
    survivors = [i for i in matched if i.digest not in {e.digest for e in evaluate(pol, images, NOW)}]
    assert len(survivors) == min(keep, len(matched))
    if survivors and len(matched) > keep:
        assert min(i.pushed_at for i in survivors) >= max(
            i.pushed_at for i in matched if i not in survivors)


@settings(max_examples=200, deadline=None)
@given(images_strategy, st.integers(1, 40), st.floats(0, 30 * DAY))
def test_age_rules_only_expire_more_as_time_passes(images, days, later):
    pol = policy(rule(1, "untagged", "sinceImagePushed", days), rule(2, "any", "sinceImagePulled", days + 3))
    before = {e.digest for e in evaluate(pol, images, NOW)}
    after = {e.digest for e in evaluate(pol, images, NOW + later)}
    assert before <= after


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(0, 4), st.randoms())
def test_index_children_never_outlive_references(n_indexes, kept, rnd: random.Random):
    # n indexes with 2 children each, all untagged except `kept` tagged indexes.
    images = []
    for k in range(n_indexes):
        tagged = k < kept
        images.append(img(f"i{k}", [f"v{k}"] if tagged else [], 30))
        images += [img(f"c{k}{a}", [], 30, parents=[f"i{k}"]) for a in "xy"]
    rnd.shuffle(images)
    result = evaluate(policy(rule(1, "untagged", "sinceImagePushed", 1)), images, NOW)
    gone = {e.digest for e in result}
    assume(images)
    for image in images:
        if image.digest in gone:
            assert image.parents <= gone
    order = [e.digest for e in deletion_order(result)]
    for position, digest in enumerate(order):
        parents = next(i for i in images if i.digest == digest).parents
        assert all(order.index(p) < position for p in parents)
