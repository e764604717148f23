"""SMART Backend Services: OAuth2 client credentials with a signed JWT assertion.

The client signs a short-lived JWT (``iss`` = ``sub`` = client id, ``aud`` = token
endpoint, ``exp`` ≤ 5 minutes, a fresh ``jti``) with its private key, trades it at the
token endpoint for an access token, and sends that as a bearer token. The token is
fetched again shortly before it expires (and once after a 401). The token endpoint is
taken from ``[base]/.well-known/smart-configuration`` unless given.

RS384 is signed in pure Python (RSA PKCS#1 v1.5 with SHA-384, from a PEM PKCS#1 or
PKCS#8 key), so no extra dependency is needed; ES384 keys need the ``cryptography``
package. Neither the key, the assertion nor the access token ever appears in a message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx

from .auth import PushAuth
from .errors import AuthError

_SHA384_DIGEST_INFO = bytes.fromhex("3041300d060960864801650304020205000430")
_RSA_OID = "1.2.840.113549.1.1.1"
_EC_OID = "1.2.840.10045.2.1"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --------------------------------------------------------------------------- minimal DER
def _der(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """(tag, content, next position) of the DER element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, data[pos:pos + length], pos + length


def _der_seq(content: bytes) -> list[tuple[int, bytes]]:
    items = []
    pos = 0
    while pos < len(content):
        tag, value, pos = _der(content, pos)
        items.append((tag, value))
    return items


def _oid(value: bytes) -> str:
    first = value[0]
    parts = [first // 40, first % 40]
    n = 0
    for b in value[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(str(p) for p in parts)


def _pem_der(pem: str) -> tuple[str, bytes]:
    lines = [ln.strip() for ln in pem.strip().splitlines()]
    if not lines or not lines[0].startswith("-----BEGIN ") or not lines[-1].startswith("-----END "):
        raise AuthError("the SMART private key is not a PEM file (-----BEGIN ... PRIVATE KEY-----)")
    label = lines[0][len("-----BEGIN "):].rstrip("-").strip()
    body = "".join(ln for ln in lines[1:-1] if ":" not in ln)
    try:
        return label, base64.b64decode(body)
    except ValueError as exc:
        raise AuthError("the SMART private key PEM is damaged (bad base64)") from exc


class _RsaKey:
    def __init__(self, n: int, d: int, p: int, q: int, dp: int, dq: int, qinv: int) -> None:
        self.n, self.d, self.p, self.q, self.dp, self.dq, self.qinv = n, d, p, q, dp, dq, qinv
        self.size = (n.bit_length() + 7) // 8

    @classmethod
    def from_pkcs1(cls, der: bytes) -> _RsaKey:
        _, content, _ = _der(der)
        ints = [int.from_bytes(v, "big") for t, v in _der_seq(content) if t == 0x02]
        if len(ints) < 9:
            raise AuthError("the SMART private key is not a complete RSA private key")
        _, n, _e, d, p, q, dp, dq, qinv = ints[:9]
        return cls(n, d, p, q, dp, dq, qinv)

    def sign_rs384(self, message: bytes) -> bytes:
        t = _SHA384_DIGEST_INFO + hashlib.sha384(message).digest()
        if self.size < len(t) + 11:
            raise AuthError("the SMART RSA key is too short for RS384")
        em = b"\x00\x01" + b"\xff" * (self.size - len(t) - 3) + b"\x00" + t
        m = int.from_bytes(em, "big")
        # CRT
        m1 = pow(m, self.dp, self.p)
        m2 = pow(m, self.dq, self.q)
        h = (self.qinv * (m1 - m2)) % self.p
        s = m2 + h * self.q
        return s.to_bytes(self.size, "big")


def _load_signer(pem: str, alg: str) -> Any:
    label, der = _pem_der(pem)
    if "ENCRYPTED" in label:
        raise AuthError("the SMART private key is encrypted; give an unencrypted PEM key (keep the file private)")
    if alg == "RS384":
        if label == "RSA PRIVATE KEY":
            return _RsaKey.from_pkcs1(der)
        if label == "PRIVATE KEY":
            _, content, _ = _der(der)
            items = _der_seq(content)
            algo = _der_seq(items[1][1]) if len(items) > 2 and items[1][0] == 0x30 else []
            if not algo or _oid(algo[0][1]) != _RSA_OID:
                raise AuthError("RS384 needs an RSA private key; this PEM holds another kind of key")
            return _RsaKey.from_pkcs1(items[2][1])
        raise AuthError(f"unsupported PEM block {label!r} for RS384; give an RSA private key")
    if alg == "ES384":
        try:
            from cryptography.hazmat.primitives import serialization
        except ImportError as exc:
            raise AuthError("ES384 needs the 'cryptography' package (pip install cryptography); "
                            "or use an RSA key with RS384") from exc
        return serialization.load_pem_private_key(pem.encode(), password=None)
    raise AuthError(f"unsupported SMART signing algorithm {alg!r}; use RS384 or ES384")


def _sign(signer: Any, alg: str, message: bytes) -> bytes:
    if isinstance(signer, _RsaKey):
        return signer.sign_rs384(message)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    der_sig = signer.sign(message, ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der_sig)
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


# --------------------------------------------------------------------------- the auth
class SmartBackendAuth(PushAuth):
    """``httpx.Auth`` for SMART Backend Services (works with sync and async clients)."""

    requires_response_body = True

    def __init__(self, *, client_id: str, private_key_pem: str, token_url: str | None = None,
                 scope: str = "system/*.write system/*.read", kid: str | None = None, alg: str = "RS384",
                 refresh_margin: float = 60.0, assertion_lifetime: int = 300) -> None:
        if not client_id:
            raise AuthError("SMART backend services need a client id")
        self.client_id = client_id
        self.token_url = token_url
        self.scope = scope
        self.kid = kid
        self.alg = alg
        self.refresh_margin = refresh_margin
        self.assertion_lifetime = min(assertion_lifetime, 300)
        self._signer = _load_signer(private_key_pem, alg)
        self._token: str | None = None
        self._expires_at = 0.0
        self._issued_secrets: list[str] = []
        self._lock = threading.Lock()
        self.fetches = 0

    @classmethod
    def from_key_file(cls, *, token_url: str | None, client_id: str, key_file: str | os.PathLike[str],
                      scope: str, kid: str | None = None, alg: str = "RS384") -> SmartBackendAuth:
        try:
            pem = Path(key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthError(f"cannot read the SMART private key {key_file}: {exc.__class__.__name__}; "
                            "check the path and its permissions") from exc
        return cls(client_id=client_id, private_key_pem=pem, token_url=token_url, scope=scope, kid=kid, alg=alg)

    def describe(self) -> str:
        return f"SMART backend services client {self.client_id}"

    def secrets(self) -> list[str]:
        with self._lock:
            return list(self._issued_secrets)

    # ------------------------------------------------------------------ pieces
    def assertion(self, token_url: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        header: dict[str, Any] = {"alg": self.alg, "typ": "JWT"}
        if self.kid:
            header["kid"] = self.kid
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": token_url,
                  "exp": int(now) + self.assertion_lifetime, "iat": int(now), "jti": uuid.uuid4().hex}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         _b64url(json.dumps(claims, separators=(",", ":")).encode()))
        signature = _sign(self._signer, self.alg, signing_input.encode("ascii"))
        jwt = signing_input + "." + _b64url(signature)
        with self._lock:
            self._issued_secrets.append(jwt)
        return jwt

    def _valid(self) -> bool:
        return self._token is not None and time.time() < self._expires_at

    def _base_of(self, request: httpx.Request) -> str:
        url = str(request.url).split("?")[0]
        return url.rsplit("/metadata", 1)[0] if url.endswith("/metadata") else url

    def _flow_token(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token_url = self.token_url
        if not token_url:
            base = self._fhir_base or self._base_of(request)
            res = yield httpx.Request("GET", f"{base.rstrip('/')}/.well-known/smart-configuration",
                                      headers={"Accept": "application/json"})
            try:
                token_url = str(res.json()["token_endpoint"])
            except (ValueError, KeyError, TypeError):
                raise AuthError(f"{base}/.well-known/smart-configuration answered HTTP {res.status_code} "
                                "without a token_endpoint; pass --smart-token-url") from None
            self.token_url = token_url
        form = {"grant_type": "client_credentials", "scope": self.scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.assertion(token_url)}
        res = yield httpx.Request("POST", token_url, data=form, headers={"Accept": "application/json"})
        try:
            body = res.json()
        except ValueError:
            body = {}
        if res.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            why = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise AuthError(f"the SMART token endpoint {token_url} refused client {self.client_id} "
                            f"(HTTP {res.status_code}{': ' + str(why) if why else ''}); check the client id, "
                            "the key registered with the server and the scopes")
        token = str(body["access_token"])
        lifetime = float(body.get("expires_in") or 300)
        margin = min(self.refresh_margin, lifetime / 5)
        with self._lock:
            self._issued_secrets.append(token)
            self._token = token
            self._expires_at = time.time() + lifetime - margin
            self.fetches += 1

    _fhir_base: str | None = None

    def set_base(self, base: str) -> None:
        """The FHIR base URL, for discovering the token endpoint."""
        self._fhir_base = base

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._valid():
            yield from self._flow_token(request)
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            # revoked or expired early: one fresh token, one more try
            yield from self._flow_token(request)
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request
