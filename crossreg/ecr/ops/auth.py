"""GetAuthorizationToken: the registry password that `docker login` / `aws ecr get-login-password`
use against the OCI API."""

from __future__ import annotations

from crossreg.auth.tokens import TokenSigner
from crossreg.ecr.registry import OpContext, operation


@operation("GetAuthorizationToken")
def get_authorization_token(ctx: OpContext, params: dict) -> dict:
    # One token per caller: it works for every registry the caller may access, so the
    # (deprecated) registryIds only choose which proxy endpoints are listed, as in ECR.
    password, expires_at = ctx.core.tokens.issue(ctx.account_id)
    token = TokenSigner.basic_credentials(password)
    registry_ids = list(dict.fromkeys(params.get("registryIds") or [ctx.account_id]))
    return {"authorizationData": [
        {"authorizationToken": token, "expiresAt": expires_at,
         "proxyEndpoint": ctx.core.proxy_endpoint(registry_id, ctx.region)}
        for registry_id in registry_ids]}
