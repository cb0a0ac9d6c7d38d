"""Cookies: reading one from a request header, and marking every cookie Secure over TLS."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def read_cookie(header: str, name: str) -> str | None:
    """The value of cookie `name` in a Cookie header, None if absent."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _secure_cookie(key: bytes, value: bytes) -> tuple[bytes, bytes]:
    if key.lower() == b"set-cookie" and b"secure" not in value.lower():
        return key, value + b"; Secure"
    return key, value


class SecureCookieMiddleware:
    """Outermost: over TLS every cookie, the session's included, is marked Secure."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def secure_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [_secure_cookie(k, v) for k, v in message.get("headers", [])]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secure_send)
