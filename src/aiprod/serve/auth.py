"""Who is calling: Bearer API keys with scopes, and the per-key rate limit.

No key or a bad one is 401, a key without the route's scope 403, a key over its rate 429
with Retry-After. The request is counted in its own short transaction, so the count holds
whatever the route does next.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aiprod.serve.keys import Caller, authenticate
from aiprod.serve.queue import LimitExceeded, count_request

bearer = HTTPBearer(
    auto_error=False, description="an API key from `aiprod keys create`", bearerFormat="aiprod"
)


def unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})


def too_many(error: LimitExceeded) -> HTTPException:
    return HTTPException(429, str(error), headers={"Retry-After": str(error.retry_after)})


def require(scope: str) -> Callable[..., Caller]:
    """A dependency: the authenticated caller, who must hold `scope`."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        if credentials is None:
            raise unauthorized("missing API key (Authorization: Bearer aiprod_...)")
        service = request.app.state.service
        exceeded = None
        with service.sessions.begin() as session:
            caller = authenticate(session, credentials.credentials)
            if caller is not None:
                try:
                    count_request(session, caller.key_id, service.serve.rate_per_minute)
                except LimitExceeded as error:
                    exceeded = error
        if caller is None:
            raise unauthorized("invalid or revoked API key")
        if scope not in caller.scopes:
            raise HTTPException(403, f"this key lacks the {scope!r} scope")
        if exceeded is not None:
            raise too_many(exceeded)
        return caller

    return dependency
