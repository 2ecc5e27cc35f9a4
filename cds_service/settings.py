"""Service configuration: environment variables (prefix ``RADIX_``) with embedded defaults."""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_type_hints

from pydantic import Field, SecretStr, ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from cds_service.clinical import ClinicalConfig


class _Settings(BaseSettings):
    """Every setting has a default that runs the service on one machine with no external service.

    The README's configuration table lists these; keep the two in step. The clinical thresholds
    are the fields of ``ClinicalConfig``, declared there (see ``Settings`` below).
    """

    model_config = SettingsConfigDict(env_prefix="RADIX_", frozen=True, extra="ignore")

    # --- HTTP ---------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8080
    #: ``serve``: worker processes, each with its own event loop, on one port; 0: one per core
    #: (the container's CPU limit) on PostgreSQL, 1 on SQLite. More than one with authentication
    #: on needs ``redis_url`` (the JWT replay cache must be shared).
    workers: int = Field(default=0, ge=0, le=256)
    #: The URL(s) EHRs call, comma-separated; JWT ``aud`` is computed from them, never from the
    #: Host header. Empty: this machine's own, http://127.0.0.1:PORT and http://localhost:PORT.
    public_base_url: str = ""
    #: Origins allowed by CORS (comma-separated, or ``*``).
    cors_origins: str = "*"
    #: Largest request body accepted, in bytes (413 above it).
    max_body_bytes: int = 1_048_576
    #: Deepest nesting of arrays and objects in a request body (400 above it).
    max_json_depth: int = Field(default=64, gt=0)
    #: Most resources in a request's prefetch, counting Bundle entries (413 above it); also the
    #: most a call reads in all, prefetch and FHIR server pages together (a key read beyond it is
    #: partial, and an essential one a 412).
    max_prefetch_resources: int = Field(default=5_000, gt=0)
    #: Most entries in ``context.draftOrders`` (413 above it).
    max_draft_orders: int = Field(default=100, gt=0)
    #: CDS calls per minute per client: the JWT's trusted ``iss`` (and ``tenant`` when the trust
    #: file lists the issuer's tenants), else the peer address; 0 turns rate limiting off. One
    #: client is a whole EHR: size it to the busiest hour. The default is ~5% of what one
    #: process serves (~200 small patient-view calls/s on 2 shared cores, bench/patient_view.py),
    #: so a 429 is reachable and one client cannot take a process from the others.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    #: Calls a client may make at once before the per-minute rate applies.
    rate_limit_burst: int = Field(default=100, gt=0)
    #: Prefix of the rate-limit buckets in Redis (with ``redis_url``, replicas share them).
    rate_limit_key_prefix: str = "radix:rate:"
    #: Refused calls (failed authentication, declared body too large) per minute per peer
    #: address; past the burst the peer gets 429 before its token is even parsed. 0: off.
    peer_refusals_per_minute: int = Field(default=60, ge=0)
    #: Refused calls a peer address may make at once before that rate applies.
    peer_refusal_burst: int = Field(default=20, gt=0)
    log_level: str = "INFO"
    #: ``json`` (one object per line, with the request id) or ``text`` for a terminal.
    log_format: Literal["json", "text"] = "json"
    #: Serve the card preview page at ``/`` (and ``POST /preview/evaluate``); false: ``/`` is 404.
    preview_enabled: bool = True
    #: Port of the Prometheus metrics endpoint, a listener of its own (never the CDS port);
    #: 0 turns it off. EHR clients must not reach it: see deploy/README.md.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: Address the metrics endpoint listens on (in a container: 0.0.0.0, the pod's address).
    metrics_host: str = "127.0.0.1"
    #: ``cds-service serve``: largest request head (request line and headers) in bytes; a
    #: larger one is answered 400 and the connection closed before the rest is read.
    max_header_bytes: int = Field(default=16_384, ge=1_024)
    #: ``serve``: seconds a request head may take from its first byte (from the connection's
    #: opening, for its first request); 408 and closed after.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    #: ``serve``: seconds an idle keep-alive connection is kept between requests.
    keep_alive_seconds: int = Field(default=5, gt=0)
    #: Seconds a request body may take to arrive once its head is in; 408 after.
    body_timeout_seconds: float = Field(default=20.0, gt=0)
    #: ``serve``: open connections per process; one more is answered 503 and closed unread.
    max_connections: int = Field(default=128, gt=0)
    #: Bytes of request bodies decoded and being answered at once, per process: a decoded
    #: body takes about 7 times its size, held while its call runs (a slow FHIR server: seconds).
    #: Calls beyond it wait their turn, in arrival order, before their body is decoded.
    bodies_in_flight_bytes: int = Field(default=33_554_432, gt=0)
    #: Longest wait for that turn, in seconds; 503 ``busy`` with ``Retry-After`` after it.
    bodies_in_flight_wait_seconds: float = Field(default=10.0, gt=0)
    #: ``serve``: peers whose ``X-Forwarded-For`` / ``-Proto`` are believed (comma-separated
    #: addresses or networks, ``*`` for any); the client address then comes from the header.
    #: Empty: no peer is believed. Set it to the reverse proxy's address, and only that.
    forwarded_allow_ips: str = "127.0.0.1"

    # --- Data: prefetch and the EHR's FHIR server ---------------------------------------
    #: One deadline, in seconds, for every FHIR query a hook call makes.
    fhir_deadline_seconds: float = 4.0
    #: How many ``next`` pages are followed per query.
    fhir_max_pages: int = 10
    #: Largest FHIR response body accepted, in bytes.
    fhir_max_response_bytes: int = 10_485_760
    #: Allow FHIR servers on loopback addresses (development and tests only).
    fhir_allow_loopback: bool = False
    #: Allow FHIR servers on private (RFC 1918 / ULA) addresses, e.g. inside a hospital network.
    fhir_allow_private: bool = False
    #: FHIR server host names allowed (comma-separated); empty allows any host whose addresses
    #: pass the checks above. A listed name is still checked address by address.
    fhir_server_hosts: str = ""
    #: Longest wait for the DNS lookup of a FHIR server's host name, in seconds.
    fhir_dns_timeout_seconds: float = Field(default=2.0, gt=0)
    #: Threads resolving FHIR server host names; one parent domain may hold half of them.
    fhir_dns_workers: int = Field(default=8, gt=0)

    # --- Clinical notes (DocumentReference text, decision-rules §6) ---------------------
    #: Read clinical notes; false: the notes stage is off (no spaCy is ever loaded).
    notes_enabled: bool = True
    #: Most notes read per call, newest first; older ones are left out (and the card says so).
    notes_max_per_call: int = Field(default=20, gt=0)
    #: Most characters of note text read per call, all notes together.
    notes_max_chars: int = Field(default=50_000, gt=0)
    #: Notes older than this many days (``date``, else ``context.period.start``) are not read.
    notes_max_age_days: int = Field(default=90, gt=0)
    #: Note readings kept in memory (per distinct text), least recently used dropped first.
    notes_cache_size: int = Field(default=1_024, ge=0)

    # --- Storage ------------------------------------------------------------------------
    #: Folder for the embedded SQLite database.
    data_dir: Path = Path("data")
    #: SQLAlchemy async URL; empty means SQLite in ``data_dir``.
    database_url: str = ""
    #: Bearer token for ``GET /analytics/summary``; empty disables the endpoint (always 401).
    admin_token: SecretStr = SecretStr("")
    #: Audit records waiting to be written; beyond this a hook call still answers and the
    #: record is counted and logged as overflow.
    audit_queue_size: int = Field(default=10_000, gt=0)
    #: Audit records written per transaction.
    audit_batch_size: int = Field(default=200, gt=0)
    #: Longest a hook call's answer waits for its audit row's commit, in seconds; 0 answers
    #: at once (a process killed right after answering may then lose the rows still queued).
    audit_commit_wait_seconds: float = Field(default=2.0, ge=0)
    #: Audit and feedback rows older than this many days are purged daily; 0 keeps them all.
    audit_retention_days: int = Field(default=0, ge=0)
    #: Feedback whose ``outcomeTimestamp`` is more than this many days before now is refused
    #: (400): an EHR's outbox replayed after a long outage still fits, a made-up date does not.
    feedback_max_past_days: int = Field(default=365, gt=0, le=36_500)
    #: ... or more than this many hours after now (400). Outcomes are not in the future; this
    #: absorbs clock drift and a local time mislabelled as UTC (offsets reach 14 hours), while a
    #: far-future instant can no longer pin a card's "latest" outcome.
    feedback_max_future_hours: float = Field(default=24.0, ge=0, le=8_760)

    # --- Authentication of CDS clients (EHRs) --------------------------------------------
    #: Require a CDS client JWT on every CDS call.
    auth_required: bool = True
    #: JSON file of trusted clients (issuers, JWKS, algorithms, tenants).
    trusted_clients_file: Path | None = None
    #: With authentication off: also copy ``systemActions`` to the pre-2.0
    #: ``extension.systemActions`` (with it on, the trusted-clients file decides per client).
    legacy_system_actions: bool = False
    #: Clock leeway, in seconds, for ``exp`` / ``iat`` / ``nbf``.
    jwt_leeway_seconds: int = 60
    #: Redis URL for the shared ``jti`` replay cache and rate-limit buckets; empty means
    #: in-memory (one replica).
    redis_url: str = ""
    #: Prefix of the replay-cache keys in Redis (lets several deployments share one Redis).
    jti_key_prefix: str = "radix:jti:"
    #: Without Redis: most token ids the in-memory replay cache holds (~215 B each); when it is
    #: full of unexpired ones, new tokens are refused (401 ``replay-cache-full``).
    replay_cache_max_entries: int = Field(default=100_000, gt=0)
    #: Longest accepted JWT lifetime (``exp`` − ``iat``), in seconds; bounds the replay cache.
    jwt_max_lifetime_seconds: int = Field(default=3600, gt=0)
    #: How long a fetched JWKS is used before it is fetched again, in seconds.
    jwks_ttl_seconds: int = Field(default=900, gt=0)
    #: Deadline for one JWKS fetch, in seconds.
    jwks_timeout_seconds: float = Field(default=2.0, gt=0)
    #: Largest JWKS response body accepted, in bytes.
    jwks_max_bytes: int = Field(default=65_536, gt=0)
    #: Least time between two fetches of one JWKS (unknown ``kid``, failed fetch), in seconds.
    jwks_refresh_interval_seconds: int = Field(default=60, ge=0)

    # --- Clinical knowledge ---------------------------------------------------------------
    #: Folder of site-local FHIR ConceptMaps (local codes → Radix value sets).
    local_codes_dir: Path | None = None
    # The thresholds and the practice mode (RADIX_PERSISTENT_WEEKS, ...): ClinicalConfig's fields.

    @cached_property
    def clinical(self) -> ClinicalConfig:
        """The thresholds the rules use, as configured."""
        return ClinicalConfig(**{name: getattr(self, name) for name in _THRESHOLDS})

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'radix.sqlite3').resolve()}"

    @property
    def fhir_server_host_set(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.fhir_server_hosts.split(",") if h.strip())

    @property
    def public_base_urls(self) -> tuple[str, ...]:
        """Every base URL a JWT ``aud`` may name (before the endpoint's path)."""
        configured = tuple(u.strip() for u in self.public_base_url.split(",") if u.strip())
        return configured or (f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}")

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


_THRESHOLDS = tuple(f.name for f in dataclasses.fields(ClinicalConfig))


def _threshold_fields() -> dict[str, Any]:
    """One setting per ``ClinicalConfig`` field: its name, type, default and bounds."""
    types = get_type_hints(ClinicalConfig)
    return {
        f.name: (types[f.name], Field(default=f.default, **f.metadata))
        for f in dataclasses.fields(ClinicalConfig)
    }


# pydantic builds the fields at run time; a type checker sees ``_Settings``, where the code reads
# the thresholds through ``Settings.clinical``.
if TYPE_CHECKING:
    Settings = _Settings
else:
    Settings = create_model(
        "Settings",
        __base__=_Settings,
        __module__=__name__,
        __doc__=_Settings.__doc__,
        **_threshold_fields(),
    )


class ConfigurationError(ValueError):
    """A ``RADIX_*`` variable cannot be used: one line per problem, naming the variable."""


def load_settings() -> Settings:
    """``Settings()`` from the environment; a bad value raises :class:`ConfigurationError`."""
    try:
        return Settings()
    except ValidationError as exc:
        # The operator set RADIX_PORT, not ``port``; pydantic's text adds a URL and the input,
        # which may be a secret (a token, a database URL with its password).
        problems = [
            f"{_variable(error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise ConfigurationError("\n".join(problems)) from None


def _variable(loc: tuple[int | str, ...]) -> str:
    prefix = Settings.model_config.get("env_prefix", "")
    return f"{prefix}{str(loc[0]).upper()}" if loc else f"{prefix}*"
