"""Shared fixtures: signing keys made with ``cryptography`` and a real JWKS server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis.asyncio as redis
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class _Publication:
    body: bytes
    status: int = 200
    delay: float = 0.0
    chunked: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class JwksServer:
    """A JWKS host whose documents, failures and delays each test sets; it counts every GET."""

    base_url: str = ""
    documents: dict[str, _Publication] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    #: The Accept-Encoding of the last GET of each name.
    accept_encoding: dict[str, str | None] = field(default_factory=dict)

    def publish(
        self,
        document: Any,
        *,
        status: int = 200,
        delay: float = 0.0,
        chunked: bool = False,
        name: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve ``document`` (JSON, or raw bytes) at a new or given name; return its URL."""
        name = name or uuid.uuid4().hex
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.documents[name] = _Publication(body, status, delay, chunked, headers or {})
        return self.url(name)

    def url(self, name: str) -> str:
        return f"{self.base_url}/jwks/{name}"

    def hits_of(self, url: str) -> int:
        return self.hits[url.rsplit("/", 1)[-1]]

    def app(self) -> Starlette:
        async def jwks(request: Request) -> Response:
            name = request.path_params["name"]
            self.hits[name] += 1
            self.accept_encoding[name] = request.headers.get("accept-encoding")
            publication = self.documents.get(name)
            if publication is None:
                return Response(status_code=404)
            if publication.delay:
                await asyncio.sleep(publication.delay)
            if publication.chunked:
                return StreamingResponse(
                    _chunks(publication.body), publication.status, headers=publication.headers
                )
            return Response(
                publication.body,
                publication.status,
                headers=publication.headers,
                media_type="application/json",
            )

        async def redirect(request: Request) -> Response:
            self.hits["redirect"] += 1
            return RedirectResponse(self.url(request.path_params["name"]), status_code=302)

        return Starlette(routes=[Route("/jwks/{name}", jwks), Route("/redirect/{name}", redirect)])


async def _chunks(body: bytes) -> Any:
    for start in range(0, len(body), 1024):
        yield body[start : start + 1024]


@pytest.fixture(scope="session")
def jwks_server() -> Iterator[JwksServer]:
    """A real uvicorn server in a thread, so fetches, TTLs and failures go over real HTTP."""
    server_state = JwksServer()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server_state.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(server_state.app(), lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the JWKS test server did not start")
        time.sleep(0.01)
    yield server_state
    server.should_exit = True
    thread.join(10)
    sock.close()


@dataclass(frozen=True)
class SigningKey:
    """A private key and its public JWK under one ``kid``."""

    private: Any
    alg: str
    kid: str

    @property
    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, **header}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


def jwks_of(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk for key in keys]}


@pytest.fixture(scope="session")
def es384_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "ec-" + uuid.uuid4().hex)


@pytest.fixture(scope="session")
def rs384_key() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(private, "RS384", "rsa-" + uuid.uuid4().hex)


@pytest.fixture(scope="session")
def other_es384_key() -> SigningKey:
    """A stranger's key: same algorithm, different private key."""
    return SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "stranger")


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix unique to this test in the shared Redis; its keys are deleted afterwards."""
    prefix = f"radix-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def write_trust_file(
    folder: Path, iss: str, key: SigningKey, tenants: list[str] | None = None
) -> Path:
    """A trusted-clients file pinning ``key`` for ``iss`` (and, if given, its tenants)."""
    client: dict[str, Any] = {"iss": iss, "jwks": jwks_of(key), "algorithms": [key.alg]}
    if tenants:
        client["tenants"] = tenants
    path = folder / "trusted-clients.json"
    path.write_text(json.dumps({"clients": [client]}))
    return path
