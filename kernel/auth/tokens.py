"""JWT access tokens (pyjwt) and opaque refresh/reset tokens (stored only as SHA-256 hashes)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from kernel.settings import Settings, jwt_secret

ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
SUPPORTED = ("HS256", "HS384", "HS512", *ASYMMETRIC)


class TokenExpired(Exception):
    pass


class TokenInvalid(Exception):
    pass


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    role: str
    jti: str
    session: str | None
    issued_at: datetime
    expires_at: datetime


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self.algorithm = str(settings.get("auth.jwt_algorithm", "HS256")).upper()
        if self.algorithm not in SUPPORTED:
            raise ValueError(f"auth.jwt_algorithm: unsupported algorithm {self.algorithm!r}")
        self.access_ttl = int(settings.get("auth.access_token_ttl", 86400))
        self.refresh_ttl = int(settings.get("auth.refresh_token_ttl", 2592000))
        if self.algorithm in ASYMMETRIC:
            private = settings.get("auth.jwt_private_key_file")
            public = settings.get("auth.jwt_public_key_file")
            if not private or not public:
                raise ValueError(
                    f"auth.jwt_algorithm {self.algorithm} needs auth.jwt_private_key_file and "
                    "auth.jwt_public_key_file"
                )
            self._signing_key: Any = Path(private).read_text()
            self._verify_key: Any = Path(public).read_text()
        else:
            self._signing_key = self._verify_key = jwt_secret(settings)

    def issue_access(self, user_id: int, role: str, session: str) -> tuple[str, AccessClaims]:
        """An access token; `session` is the refresh-token family of the login it belongs to."""
        now = datetime.now(UTC)
        claims = AccessClaims(
            user_id=user_id,
            role=role,
            jti=uuid.uuid4().hex,
            session=session,
            issued_at=now,
            expires_at=now + timedelta(seconds=self.access_ttl),
        )
        payload = {
            "sub": str(user_id),
            "role": role,
            # Sub-second iat: tokens_valid_after must separate tokens issued within one second.
            "iat": round(now.timestamp(), 3),
            "exp": claims.expires_at,
            "jti": claims.jti,
            "sid": session,
            "type": "access",
        }
        return jwt.encode(payload, self._signing_key, algorithm=self.algorithm), claims

    def decode_access(self, token: str) -> AccessClaims:
        try:
            # Only the configured algorithm is accepted: "alg: none" and algorithm swaps fail here.
            payload = jwt.decode(
                token,
                self._verify_key,
                algorithms=[self.algorithm],
                options={"require": ["sub", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("access token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"invalid access token: {exc}") from exc
        if payload.get("type") != "access":
            raise TokenInvalid("invalid access token: not an access token")
        try:
            return AccessClaims(
                user_id=int(payload["sub"]),
                role=str(payload.get("role", "user")),
                jti=str(payload["jti"]),
                session=payload.get("sid"),
                issued_at=datetime.fromtimestamp(payload["iat"], UTC),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            )
        except (TypeError, ValueError) as exc:
            raise TokenInvalid("invalid access token: bad claims") from exc


def new_opaque_token() -> tuple[str, str]:
    """A random token for the client and the hash we store."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
