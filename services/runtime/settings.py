"""One settings object for the whole platform, read from `FUNDWATCH_*` environment variables."""

from __future__ import annotations

import os
import secrets
import stat
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import TOPICS, Family

EMBEDDED_PII_KEY = "embedded-demo-key-not-for-production"
MIN_AUTH_SECRET = 32  # bytes of an HS256 key (RFC 7518 §3.2: at least the hash size)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDWATCH_", extra="ignore")

    mode: Literal["embedded", "production"] = "embedded"
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_prefix: str = "fundwatch"
    database_url: str = "sqlite+aiosqlite:///var/fundwatch.db"
    pii_key: SecretStr = SecretStr(EMBEDDED_PII_KEY)
    # HS256 key of the API tokens. Production: required. Embedded: unset, and a random one is made
    # at first start in `secret_file` (0600) — never a constant that a reader of the code could use.
    auth_secret: SecretStr | None = None
    secret_file: Path = Path("var/auth-secret")
    access_token_ttl_s: int = Field(900, ge=30, le=86400, description="lifetime of a login's access token")
    refresh_token_ttl_s: int = Field(43200, ge=60, le=30 * 86400, description="lifetime of a refresh token")
    ingest_max_body_bytes: int = 16 << 20  # a batch of 5,000 events fits; a 20 MB body is refused unread
    max_body_bytes: int = 1 << 20  # every other API
    ingest_import_max_bytes: int = 256 << 20  # an uploaded table (/v1/imports/…), streamed to disk, never held whole
    ingest_max_future_days: int = Field(366, ge=1, description="event times later than now + this are refused")
    ingest_max_past_days: int = Field(3660, ge=1, description="event times earlier than now - this are refused")
    max_json_depth: int = 32  # events nest 5 deep; RecursionError territory is far beyond

    host: str = "127.0.0.1"
    ingest_port: int = 8000
    ledger_port: int = 8001
    alerts_port: int = 8002
    notify_port: int = 8003
    access_port: int = 8004
    console_port: int = 8005  # the operator console (web pages, services/console)

    # Consumer-group timing: Tansu makes joins wait on these (DESIGN §9).
    session_timeout_ms: int = 6000
    rebalance_timeout_ms: int = 3000
    heartbeat_interval_ms: int = 1000
    consumer_batch: int = 2000
    # How the platform creates its topics (contracts/topics.py keeps partitions and compaction): the
    # embedded broker has one node; on Apache Kafka 3 and 2 (a write is acked by two of three brokers).
    topic_replication_factor: int = Field(1, ge=1, description="replicas of every topic the platform creates")
    topic_min_insync_replicas: int = Field(1, ge=1, description="min.insync.replicas of those topics (acks=all)")
    # The longest a consumer's fetch waits at the broker for records. Kafka answers as soon as
    # records arrive; the embedded broker (Tansu) holds an idle fetch for all of it even when
    # records arrive meanwhile (measured send → receipt: 0.6 s at faust's fixed 1,500 ms, 0.1 s
    # at aiokafka's default 500 ms, 16 ms at 100, 2 ms at 10), so every hop of an event through
    # the services would cost up to this much. Lower: more empty fetches while idle.
    fetch_wait_ms: int = 50

    notify_webhook_url: str | None = Field(None, description="default webhook for every group")
    notify_group_webhooks: dict[str, str] = Field(default_factory=dict, description="group_code → webhook URL")
    notify_max_attempts: int = 6
    notify_retry_base_s: float = 0.5
    notify_timeout_s: float = 5.0
    notify_webhook_secret: SecretStr | None = Field(None, description="Standard Webhooks secret (whsec_…) of the "
                                                    "settings' webhooks; derived from auth_secret when unset")
    notify_smtp_host: str = "127.0.0.1"
    notify_smtp_port: int = 25
    notify_mail_from: str = "fundwatch@localhost"
    notify_console_url: str = Field("http://localhost:8080", description="links in messages point here")
    notify_group_wait_s: float = Field(30.0, description="a group's first message waits this long for more alerts")
    notify_group_interval_s: float = Field(300.0, description="then at most one message per group this often")
    notify_robot_per_minute: int = Field(20, description="企业微信/钉钉 robots accept at most this many a minute")
    notify_stream_max_s: float = Field(300.0, description="an SSE connection ends after this; clients resume")
    notify_reminder_poll_s: float = Field(600.0, description="how often reminders and the monthly report are due")
    notify_report_regions: str = Field("000000", description="regions (comma-separated) whose monthly reports "
                                                             "are made on the first working day")

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError("FUNDWATCH_TOPIC_MIN_INSYNC_REPLICAS must not exceed FUNDWATCH_TOPIC_REPLICATION_FACTOR "
                             "(no write could be acknowledged)")
        if self.mode == "production" and self.pii_key.get_secret_value() == EMBEDDED_PII_KEY:
            raise ValueError("FUNDWATCH_PII_KEY must be set to a real secret in production mode")
        if self.mode == "production" and len(self.pii_key.get_secret_value()) < 16:
            raise ValueError("FUNDWATCH_PII_KEY must be at least 16 characters")
        if self.mode == "production" and self.auth_secret is None:
            raise ValueError("FUNDWATCH_AUTH_SECRET must be set to a real secret in production mode")
        if self.auth_secret is not None and len(self.auth_secret.get_secret_value().encode()) < MIN_AUTH_SECRET:
            raise ValueError(f"FUNDWATCH_AUTH_SECRET must be at least {MIN_AUTH_SECRET} bytes (HS256 key)")
        return self

    def token_secret(self) -> str:
        """The HS256 key: FUNDWATCH_AUTH_SECRET, or (embedded) the one kept in `secret_file`."""
        if self.auth_secret is not None:
            return self.auth_secret.get_secret_value()
        return embedded_secret(self.secret_file.resolve())

    def with_secret(self) -> Settings:
        """A copy that carries the token secret itself (what a supervisor hands its children)."""
        return self.model_copy(update={"auth_secret": SecretStr(self.token_secret())})

    def topic(self, family: Family) -> str:
        return TOPICS[family].name(self.topic_prefix)

    @property
    def pii_key_bytes(self) -> bytes:
        return self.pii_key.get_secret_value().encode()

    def url(self, service: str) -> str:
        port = {"ingest": self.ingest_port, "ledger": self.ledger_port, "alerts": self.alerts_port,
                "notify": self.notify_port, "access": self.access_port,
                "console": self.console_port}[service]
        return f"http://{self.host}:{port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


@lru_cache
def embedded_secret(path: Path) -> str:
    """Read the embedded installation's token secret, making it at first start: random, written
    to a temporary file with mode 0600 and linked into place (so concurrent starters agree on one
    and nobody reads a half-written file). A file that others may read is refused."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process was first: use its secret
        finally:
            tmp.unlink()
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionError(f"{path} may be read by others (mode {stat.filemode(mode)}); chmod 600 it")
    secret = path.read_text().strip()
    if len(secret.encode()) < MIN_AUTH_SECRET:
        raise ValueError(f"{path} holds no usable secret (fewer than {MIN_AUTH_SECRET} bytes); delete it")
    return secret
