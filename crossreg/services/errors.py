"""Domain errors raised by the service layer. The OCI and ECR layers each map them to their
own wire format (OCI error JSON, AWS `__type` errors), so the rules live in one place."""

from __future__ import annotations


class RegistryError(Exception):
    """Base class; `str(err)` is a message fit for users."""


class AccountNotFound(RegistryError):
    pass


class RepositoryNotFound(RegistryError):
    def __init__(self, name: str, registry_id: str):
        super().__init__(f"The repository with name '{name}' does not exist in the registry with id '{registry_id}'")
        self.name, self.registry_id = name, registry_id


class RepositoryAlreadyExists(RegistryError):
    def __init__(self, name: str, registry_id: str):
        super().__init__(f"The repository with name '{name}' already exists in the registry with id '{registry_id}'")
        self.name, self.registry_id = name, registry_id


class RepositoryNotEmpty(RegistryError):
    def __init__(self, name: str, registry_id: str):
        super().__init__(
            f"The repository with name '{name}' in registry with id '{registry_id}' cannot be deleted "
            "because it still contains images")
        self.name, self.registry_id = name, registry_id


class ManifestNotFound(RegistryError):
    def __init__(self, reference: str, name: str, registry_id: str):
        super().__init__(f"manifest '{reference}' is not known to repository '{name}'")
        self.reference, self.name, self.registry_id = reference, name, registry_id


class BlobNotFound(RegistryError):
    def __init__(self, digest: str):
        super().__init__(f"blob {digest} is not known to this repository")
        self.digest = digest


class UploadNotFound(RegistryError):
    def __init__(self, upload_id: str, name: str, registry_id: str):
        super().__init__(
            f"Upload with id '{upload_id}' could not be found for the repository with name '{name}' "
            f"in the registry with id '{registry_id}'")
        self.upload_id, self.name, self.registry_id = upload_id, name, registry_id


class UploadOffsetMismatch(RegistryError):
    def __init__(self, expected: int, got: int):
        super().__init__(f"chunk starts at byte {got} but the upload holds {expected} bytes")
        self.expected, self.got = expected, got


class DigestMismatch(RegistryError):
    def __init__(self, claimed: str, actual: str):
        super().__init__(f"provided digest {claimed} does not match content digest {actual}")
        self.claimed, self.actual = claimed, actual


class InvalidManifest(RegistryError):
    def __init__(self, message: str, code: str = "MANIFEST_INVALID", detail=None):
        super().__init__(message)
        self.code, self.detail = code, detail


class ManifestBlobsMissing(RegistryError):
    def __init__(self, digests: list[str]):
        super().__init__("manifest references blobs unknown to the repository: " + ", ".join(digests))
        self.digests = digests


class ReferencedManifestsMissing(RegistryError):
    def __init__(self, digests: list[str]):
        super().__init__("index references manifests unknown to the repository: " + ", ".join(digests))
        self.digests = digests


class ImmutableTag(RegistryError):
    def __init__(self, tag: str, name: str):
        super().__init__(
            f"The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten "
            "because the repository is immutable.")
        self.tag, self.name = tag, name


class ManifestReferencedByIndex(RegistryError):
    def __init__(self, digest: str, index_digest: str):
        super().__init__(f"manifest {digest} is referenced by the manifest list {index_digest}")
        self.digest, self.index_digest = digest, index_digest
