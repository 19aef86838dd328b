"""Who may talk to the service: anyone on this machine when it listens on loopback only; otherwise
only clients presenting the token (``Authorization: Bearer T``, or ``?token=T`` for links that a
browser follows, such as downloads)."""

from __future__ import annotations

import ipaddress
import secrets

from fastapi import HTTPException
from starlette.requests import HTTPConnection


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def binding_problem(host: str, token: str | None) -> str | None:
    """Why the service must not start with these settings, or None."""
    if not is_loopback(host) and not token:
        return (f"--host {host} makes the service reachable from other machines; give a --token "
                "(clients send it as 'Authorization: Bearer TOKEN'), or leave --host out for 127.0.0.1")  # fmt: skip
    return None


def token_guard(token: str | None):
    """A FastAPI dependency refusing requests without ``token`` (no check when token is None)."""

    def check(request: HTTPConnection) -> None:
        if not token_ok(request, token):
            raise HTTPException(401, "a valid token is required (Authorization: Bearer TOKEN)",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    return check


def token_ok(connection: HTTPConnection, token: str | None) -> bool:
    """Whether a request or WebSocket presents ``token`` (always true when token is None).
    Browsers cannot set headers on a WebSocket, so ``?token=T`` is how the live page sends it."""
    if token is None:
        return True
    given = connection.headers.get("authorization", "")
    given = given[7:] if given.lower().startswith("bearer ") else connection.query_params.get("token", "")
    return secrets.compare_digest(given.encode(), token.encode())
