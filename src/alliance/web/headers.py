"""The security headers every response carries: CSP, no sniffing or framing, no caching, HSTS."""

from __future__ import annotations

from collections.abc import Iterable

# Vega compiles its expressions with Function(), so charts need 'unsafe-eval'; inline scripts
# stay forbidden, which is what stops injected markup from running.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}


def harden(
    headers: Iterable[tuple[bytes, bytes]], *, path: str, secure: bool
) -> list[tuple[bytes, bytes]]:
    """The response's headers less `server`, plus each security header the app did not set."""
    out = [(k, v) for k, v in headers if k.lower() != b"server"]
    present = {k.lower() for k, _ in out}
    for name, value in SECURITY_HEADERS.items():
        if name.encode() not in present:
            out.append((name.encode(), value.encode()))
    if b"cache-control" not in present and not path.startswith("/static/"):
        # Pages hold clinical content: no copies in shared or browser caches.
        out.append((b"cache-control", b"no-store"))
    if secure:
        out.append((b"strict-transport-security", b"max-age=31536000"))
    return out
