"""Images: ListImages, DescribeImages, BatchGetImage, PutImage, BatchDeleteImage and
ListImageReferrers. Images are the manifests and tags of the service layer, so an image pushed
through the OCI API is visible here and an image put here is pullable there."""

from __future__ import annotations

import hashlib
import re

from crossreg.domain.names import is_valid_ecr_tag
from crossreg.ecr import errors
from crossreg.ecr.ops import _shapes as shapes
from crossreg.ecr.registry import OpContext, operation
from crossreg.services import errors as e
from crossreg.services.models import Repository

# ECR's ImageDigest grammar as its failure reasons quote it.
DIGEST_PATTERN = "[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+"
_DIGEST = re.compile(r"[a-zA-Z0-9_+.-]+:[a-fA-F0-9]+")
_STATUSES_WITHOUT_IMAGES = ("ARCHIVED", "ACTIVATING")  # crossreg never archives images


class _Failure(Exception):
    """One imageId of a batch that cannot be served: an entry of `failures`, not an error."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason

    def entry(self, image_id: dict) -> dict:
        return {"imageId": dict(image_id), "failureCode": self.code, "failureReason": self.reason}


def _resolve(ctx: OpContext, repo: Repository, image_id: dict) -> str:
    """The digest an ImageIdentifier names, or _Failure with ECR's failure code."""
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    if digest is None and tag is None:
        raise _Failure("MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null")
    if digest is not None and not _DIGEST.fullmatch(digest):
        raise _Failure("InvalidImageDigest",
                       f"Invalid request parameters: image digest should satisfy the regex '{DIGEST_PATTERN}'")
    if tag is not None:
        tagged = ctx.core.registry.resolve(repo, tag) if is_valid_ecr_tag(tag) else None
        if tagged is None:
            raise _Failure("ImageNotFound", "Requested image not found")
        if digest is not None and digest != tagged:
            raise _Failure("ImageTagDoesNotMatchDigest",
                           "Invalid request parameters: the image tag does not match the image digest")
        return tagged
    if ctx.core.registry.resolve(repo, digest) is None:
        raise _Failure("ImageNotFound", "Requested image not found")
    return digest


def _image_status_excluded(params: dict) -> bool:
    return (params.get("filter") or {}).get("imageStatus") in _STATUSES_WITHOUT_IMAGES


@operation("ListImages", cross_account=True)
def list_images(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    tag_status = (params.get("filter") or {}).get("tagStatus", "ANY")
    pager = shapes.Pager(ctx, params, repo.account_id, repo.name, tag_status,
                         (params.get("filter") or {}).get("imageStatus"))
    if _image_status_excluded(params):
        return {"imageIds": []}
    after = (pager.state["digest"], pager.state["tag"]) if pager.state else None
    rows = ctx.core.registry.list_image_ids(repo, tag_status=tag_status, after=after, limit=pager.size + 1)
    page = rows[:pager.size]
    out = {"imageIds": [{"imageDigest": d, "imageTag": t} for d, t in page]}
    if len(rows) > pager.size:
        last_digest, last_tag = page[-1]
        out["nextToken"] = pager.next_token({"digest": last_digest, "tag": last_tag or ""})
    return out


@operation("DescribeImages", cross_account=True)
def describe_images(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    image_ids = params.get("imageIds")
    if image_ids is not None:
        shapes.reject_paging_with(params, "imageIds")
        digests = []
        for image_id in image_ids:
            try:
                digests.append(_resolve(ctx, repo, image_id))
            except _Failure:
                raise errors.image_not_found(image_id, repo.name, repo.account_id) from None
        found = ctx.core.registry.images_by_digest(repo, digests)
        ordered = list(dict.fromkeys(digests))  # each image once, in request order
        missing = [d for d in ordered if d not in found]  # deleted meanwhile
        if missing:
            raise errors.image_not_found({"imageDigest": missing[0]}, repo.name, repo.account_id)
        return {"imageDetails": [shapes.image_detail(repo, found[d]) for d in ordered]}

    tag_status = (params.get("filter") or {}).get("tagStatus", "ANY")
    pager = shapes.Pager(ctx, params, repo.account_id, repo.name, tag_status,
                         (params.get("filter") or {}).get("imageStatus"))
    if _image_status_excluded(params):
        return {"imageDetails": []}
    after = pager.state["digest"] if pager.state else None
    images = ctx.core.registry.list_images(repo, tag_status=tag_status, after=after, limit=pager.size + 1)
    page = images[:pager.size]
    out = {"imageDetails": [shapes.image_detail(repo, image) for image in page]}
    if len(images) > pager.size:
        out["nextToken"] = pager.next_token({"digest": page[-1].manifest.digest})
    return out


@operation("BatchGetImage", cross_account=True)
def batch_get_image(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    accepted = params.get("acceptedMediaTypes")
    images, failures = [], []
    for image_id in _unique(params["imageIds"]):
        try:
            digest = _resolve(ctx, repo, image_id)
            manifest = ctx.core.registry.get_manifest(repo, digest)
        except _Failure as failure:
            failures.append(failure.entry(image_id))
            continue
        except e.ManifestNotFound:  # deleted between the two reads
            failures.append(_Failure("ImageNotFound", "Requested image not found").entry(image_id))
            continue
        if accepted and manifest.media_type not in accepted:
            # crossreg serves manifests exactly as pushed (no schema conversion).
            failures.append(_Failure(
                "ImageNotFound",
                f"Requested image not found: its media type '{manifest.media_type}' is not among "
                "the acceptedMediaTypes").entry(image_id))
            continue
        ctx.core.registry.record_pull(repo, digest)
        images.append({
            "registryId": repo.account_id, "repositoryName": repo.name,
            "imageId": {"imageDigest": digest, "imageTag": image_id.get("imageTag")},
            "imageManifest": manifest.content.decode("utf-8"),
            "imageManifestMediaType": manifest.media_type,
        })
    return {"images": images, "failures": failures}


@operation("PutImage", cross_account=True)
def put_image(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    body = params["imageManifest"].encode("utf-8")
    tag = params.get("imageTag")
    if tag is not None and not is_valid_ecr_tag(tag):
        # Pullable tags only: a tag no OCI client can reference would be an unreachable image.
        raise errors.invalid_parameter(
            "imageTag", "Member must satisfy regular expression pattern: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}")
    claimed = params.get("imageDigest")
    computed = "sha256:" + hashlib.sha256(body).hexdigest()
    if claimed is not None and claimed != computed:
        if not (claimed.startswith("sha512:") and claimed == "sha512:" + hashlib.sha512(body).hexdigest()):
            raise errors.EcrError(
                "ImageDigestDoesNotMatchException",
                f"The provided image digest '{claimed}' does not match the digest '{computed}' "
                "calculated for the image manifest")
    # ECR refuses a push that changes nothing (same manifest, same tag or no tag at all).
    current = ctx.core.registry.resolve(repo, tag if tag is not None else computed)
    if current == computed:
        raise errors.EcrError(
            "ImageAlreadyExistsException",
            f"Image with digest '{computed}' and tag '{tag if tag is not None else 'null'}' already "
            f"exists in the repository with name '{repo.name}' in registry with id '{repo.account_id}'")
    # The same path as an OCI manifest PUT: same checks, same push hooks (replication, events).
    pushed = ctx.core.registry.put_manifest(repo.key, body, params.get("imageManifestMediaType"), tag=tag)
    return {"image": {
        "registryId": repo.account_id, "repositoryName": repo.name,
        "imageId": {"imageDigest": pushed.digest, "imageTag": tag},
        "imageManifest": params["imageManifest"],
        "imageManifestMediaType": pushed.media_type,
    }}


@operation("BatchDeleteImage", cross_account=True)
def batch_delete_image(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    deleted, failures = [], []
    for image_id in _unique(params["imageIds"]):
        try:
            digest = _resolve(ctx, repo, image_id)
            if image_id.get("imageDigest") is None:
                # By tag: removes the tag; removing an image's last tag deletes the image.
                ctx.core.registry.delete_tag(repo, image_id["imageTag"])
                deleted.append({"imageDigest": digest, "imageTag": image_id["imageTag"]})
            else:
                # By digest: the image goes, with all its tags.
                event = ctx.core.registry.delete_manifest(repo, digest)
                deleted.extend({"imageDigest": digest, "imageTag": t} for t in event.tags_removed)
                if not event.tags_removed:
                    deleted.append({"imageDigest": digest})
        except _Failure as failure:
            failures.append(failure.entry(image_id))
        except e.ManifestReferencedByIndex as err:
            failures.append(_Failure(
                "ImageReferencedByManifestList",
                f"Requested image is referenced by the manifest list {err.index_digest}").entry(image_id))
        except e.ManifestNotFound:  # deleted concurrently
            failures.append(_Failure("ImageNotFound", "Requested image not found").entry(image_id))
    return {"imageIds": deleted, "failures": failures}


@operation("ListImageReferrers", cross_account=True)
def list_image_referrers(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    subject = params["subjectId"]["imageDigest"]
    flt = params.get("filter") or {}
    artifact_types = tuple(flt.get("artifactTypes") or ())
    status = flt.get("artifactStatus")
    # ECR's default page here is 20, at most 50.
    pager = shapes.Pager(ctx, params, repo.account_id, repo.name, subject, status, *artifact_types,
                         default=20, maximum=50)
    if status in _STATUSES_WITHOUT_IMAGES:
        return {"referrers": []}
    found = ctx.core.registry.referrers(repo, subject)
    if artifact_types:
        found = [m for m in found if m.artifact_type in artifact_types]
    found.sort(key=lambda m: m.digest)
    if pager.state:
        found = [m for m in found if m.digest > pager.state["digest"]]
    page = found[:pager.size]
    out = {"referrers": [{
        "digest": m.digest, "mediaType": m.media_type, "artifactType": m.artifact_type,
        "size": m.manifest_size, "annotations": m.annotations, "artifactStatus": "ACTIVE",
    } for m in page]}
    if len(found) > pager.size:
        out["nextToken"] = pager.next_token({"digest": page[-1].digest})
    return out


def _unique(image_ids: list[dict]) -> list[dict]:
    """A batch names each image once; repeated identical ids are served once."""
    seen, out = set(), []
    for image_id in image_ids:
        key = (image_id.get("imageDigest"), image_id.get("imageTag"))
        if key not in seen:
            seen.add(key)
            out.append(image_id)
    return out
