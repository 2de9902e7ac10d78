"""The lifecycle policy evaluator: which images of a repository a policy expires, and by which
rule. Pure: images + policy + now in, expiries out.

ECR's documented semantics (ECR user guide, "How lifecycle policies work" and the examples):

* All rules are evaluated independently, each against every image, then applied in priority
  order (lowest rulePriority first).
* A rule *matches* an image by its tag selection: `untagged` = no tags, `any` = every image,
  `tagged` + tagPrefixList = every listed prefix is the prefix of one of the image's tags,
  `tagged` + tagPatternList = every listed pattern (`*` = any run of characters) matches one of
  the image's tags. Several prefixes/patterns therefore select images that carry all of them.
* A rule *marks* images among those it matches: `imageCountMoreThan N` sorts them newest first
  by push time and marks all after the first N; `sinceImagePushed N days` marks those pushed
  more than N days before now (`sinceImagePulled`: last pulled, or pushed if never pulled).
  Counting includes images that higher-priority rules matched or expired ("rules can still
  identify them as if they haven't been expired").
* An image is expired by exactly one or zero rules, and an image that matches the tagging
  requirements of a rule cannot be expired by a rule with a lower priority: a rule expires the
  images it marks that no higher-priority rule matched.

Images are manifests, so the images of a multi-architecture index count as images too (as in
ECR). An image that a manifest list still references cannot be deleted (ECR answers
ImageReferencedByManifestList), so such an image is only expired together with every index that
references it; otherwise it is kept.

Ties in push time are broken by digest, so the result never depends on input order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

from crossreg.lifecycle.policy import LifecyclePolicy, Rule


@dataclass(frozen=True)
class ImageInfo:
    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    last_pulled_at: float | None = None
    # Digests of the manifest lists (in the same repository) that reference this image.
    parents: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Expiry:
    image: ImageInfo
    rule_priority: int

    @property
    def digest(self) -> str:
        return self.image.digest


@lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def tag_matches_pattern(tag: str, pattern: str) -> bool:
    """A tagPatternList entry against one tag: the whole tag must match, `*` standing for any
    (possibly empty) run of characters."""
    return _pattern_regex(pattern).fullmatch(tag) is not None


def rule_matches(rule: Rule, image: ImageInfo) -> bool:
    """Whether the image meets the rule's tagging requirements."""
    if rule.tag_status == "any":
        return True
    if rule.tag_status == "untagged":
        return not image.tags
    if not image.tags:
        return False
    if rule.tag_prefixes:
        return all(any(t.startswith(p) for t in image.tags) for p in rule.tag_prefixes)
    return all(any(tag_matches_pattern(t, p) for t in image.tags) for p in rule.tag_patterns)


def _newest_first(images: Iterable[ImageInfo]) -> list[ImageInfo]:
    return sorted(images, key=lambda i: (-i.pushed_at, i.digest))


def rule_marks(rule: Rule, matched: list[ImageInfo], now: float) -> list[ImageInfo]:
    """The images among `matched` that the rule's count criterion selects for expiry."""
    if rule.count_type == "imageCountMoreThan":
        return _newest_first(matched)[rule.count_number:]
    limit = rule.max_age_seconds
    if rule.count_type == "sinceImagePulled":
        def reference(i: ImageInfo) -> float:
            return i.last_pulled_at if i.last_pulled_at is not None else i.pushed_at
    else:
        def reference(i: ImageInfo) -> float:
            return i.pushed_at
    return [i for i in matched if now - reference(i) > limit]


def evaluate(policy: LifecyclePolicy, images: Iterable[ImageInfo], now: float) -> list[Expiry]:
    """The images `policy` expires at time `now` (epoch seconds), each with the rule that
    expires it; ordered by rule priority, then oldest first."""
    images = list(images)
    claimed: set[str] = set()  # matched by a higher-priority rule: no lower rule may expire it
    expiring: dict[str, Expiry] = {}
    for rule in policy.rules:  # ascending priority
        matched = [i for i in images if rule_matches(rule, i)]
        for image in rule_marks(rule, matched, now):
            if image.digest not in claimed:
                expiring[image.digest] = Expiry(image, rule.priority)
        claimed.update(i.digest for i in matched)
    # An image still referenced by a surviving manifest list cannot go.
    changed = True
    while changed:
        changed = False
        for digest, exp in list(expiring.items()):
            if any(parent not in expiring for parent in exp.image.parents):
                del expiring[digest]
                changed = True
    return sorted(expiring.values(), key=lambda e: (e.rule_priority, e.image.pushed_at, e.digest))


def deletion_order(expiries: Iterable[Expiry]) -> list[Expiry]:
    """Expiries ordered so that every manifest list is deleted before the images it
    references (which only then become deletable)."""
    pending = {e.digest: e for e in expiries}
    ordered: list[Expiry] = []
    while pending:
        # Images whose parent manifest list is still pending wait for it.
        referenced_by_pending = {d for d, e in pending.items()
                                 if any(p in pending for p in e.image.parents)}
        ready = [e for d, e in pending.items() if d not in referenced_by_pending]
        if not ready:  # cannot happen: content-addressed manifests cannot reference in a cycle
            ready = list(pending.values())
        for e in sorted(ready, key=lambda e: (e.image.pushed_at, e.digest)):
            ordered.append(e)
            del pending[e.digest]
    return ordered
