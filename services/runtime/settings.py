"""One settings object for the whole platform, read from `FUNDWATCH_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import TOPICS, Family

EMBEDDED_PII_KEY = "embedded-demo-key-not-for-production"
EMBEDDED_AUTH_SECRET = "embedded-auth-secret-not-for-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDWATCH_", extra="ignore")

    mode: Literal["embedded", "production"] = "embedded"
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_prefix: str = "fundwatch"
    database_url: str = "sqlite+aiosqlite:///var/fundwatch.db"
    pii_key: SecretStr = SecretStr(EMBEDDED_PII_KEY)
    auth_secret: SecretStr = SecretStr(EMBEDDED_AUTH_SECRET)

    host: str = "127.0.0.1"
    ingest_port: int = 8000
    ledger_port: int = 8001
    alerts_port: int = 8002
    notify_port: int = 8003

    # Consumer-group timing: Tansu makes joins wait on these (DESIGN §9).
    session_timeout_ms: int = 6000
    rebalance_timeout_ms: int = 3000
    heartbeat_interval_ms: int = 1000
    consumer_batch: int = 2000
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

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.mode == "production" and self.pii_key.get_secret_value() == EMBEDDED_PII_KEY:
            raise ValueError("FUNDWATCH_PII_KEY must be set to a real secret in production mode")
        if self.mode == "production" and len(self.pii_key.get_secret_value()) < 16:
            raise ValueError("FUNDWATCH_PII_KEY must be at least 16 characters")
        if self.mode == "production" and self.auth_secret.get_secret_value() in (EMBEDDED_AUTH_SECRET, ""):
            raise ValueError("FUNDWATCH_AUTH_SECRET must be set to a real secret in production mode")
        return self

    def topic(self, family: Family) -> str:
        return TOPICS[family].name(self.topic_prefix)

    @property
    def pii_key_bytes(self) -> bytes:
        return self.pii_key.get_secret_value().encode()

    def url(self, service: str) -> str:
        port = {"ingest": self.ingest_port, "ledger": self.ledger_port, "alerts": self.alerts_port,
                "notify": self.notify_port}[service]
        return f"http://{self.host}:{port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
