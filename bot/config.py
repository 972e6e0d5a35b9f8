"""The one `Settings` object: environment variables or `.env`, validated once at start."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class SettingsError(Exception):
    """Settings are missing or malformed; the message is one line naming them."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATABASE_URL_FORMS = "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"

# Offsets in days before a date (reminders, warnings) and usage thresholds in percent: bounded so that
# date arithmetic in the jobs can never overflow.
DaysAhead = Annotated[int, Field(ge=0, le=3650)]
Percent = Annotated[int, Field(ge=1, le=1000)]


class Settings(BaseSettings):
    """Every knob Trustbot reads; names without a prefix are a contract with operators."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    database_url: str = Field(default="sqlite+aiosqlite:///./trustbot.db", alias="DATABASE_URL")
    host: str = Field(default="0.0.0.0", alias="HOST")
    port: int = Field(default=3000, ge=0, le=65535, alias="PORT")
    ingest_secret: SecretStr | None = Field(default=None, alias="TRUSTBOT_INGEST_SECRET")
    # True once every producer sends the path-bound v1 signature: v0-only requests are then refused.
    ingest_require_path_signature: bool = Field(default=False, alias="TRUSTBOT_INGEST_REQUIRE_PATH_SIGNATURE")
    operators: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="TRUSTBOT_OPERATORS")
    directory: str | None = Field(default=None, alias="TRUSTBOT_DIRECTORY")
    timezone: str = Field(default="UTC", alias="TRUSTBOT_TIMEZONE")

    # Delivery.
    channel_pace_seconds: float = Field(default=1.0, ge=0, le=86400, alias="TRUSTBOT_CHANNEL_PACE_SECONDS")
    outbox_lease_seconds: float = Field(default=30.0, gt=0, le=86400, alias="TRUSTBOT_OUTBOX_LEASE_SECONDS")
    outbox_max_attempts: int = Field(default=12, ge=1, le=1000, alias="TRUSTBOT_OUTBOX_MAX_ATTEMPTS")
    # How long a channel that hit Slack's per-channel message cap (`message_limit_exceeded`) is held.
    message_limit_hold_seconds: float = Field(default=60.0, ge=0, le=3600, alias="TRUSTBOT_MESSAGE_LIMIT_HOLD_SECONDS")
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=3600, alias="TRUSTBOT_OUTBOX_POLL_SECONDS")
    slack_timeout_seconds: float = Field(default=10.0, gt=0, le=600, alias="TRUSTBOT_SLACK_TIMEOUT_SECONDS")

    # Requests.
    request_nudge_hours: float = Field(default=24, gt=0, le=87600, alias="TRUSTBOT_REQUEST_NUDGE_HOURS")
    request_escalate_hours: float = Field(default=48, gt=0, le=87600, alias="TRUSTBOT_REQUEST_ESCALATE_HOURS")
    request_expire_days: float = Field(default=14, gt=0, le=3650, alias="TRUSTBOT_REQUEST_EXPIRE_DAYS")
    # One org's flood of requests must not bury the reps channel (and other orgs' requests) in work.
    max_open_requests_per_org: int = Field(default=20, ge=1, le=100000, alias="TRUSTBOT_MAX_OPEN_REQUESTS_PER_ORG")

    # Re-verification and expiry.
    reverify_remind_days: Annotated[list[DaysAhead], NoDecode] = Field(
        default_factory=lambda: [14, 3, 0], alias="TRUSTBOT_REVERIFY_REMIND_DAYS"
    )
    expiry_warn_days: Annotated[list[DaysAhead], NoDecode] = Field(
        default_factory=lambda: [7, 1], alias="TRUSTBOT_EXPIRY_WARN_DAYS"
    )
    org_verification_warn_days: Annotated[list[DaysAhead], NoDecode] = Field(
        default_factory=lambda: [30, 7], alias="TRUSTBOT_ORG_VERIFICATION_WARN_DAYS"
    )

    # Alerts.
    alert_dedup_minutes: float = Field(default=60, gt=0, le=525600, alias="TRUSTBOT_ALERT_DEDUP_MINUTES")
    alert_update_seconds: float = Field(default=10, ge=0, le=86400, alias="TRUSTBOT_ALERT_UPDATE_SECONDS")
    alert_escalate_minutes: float = Field(default=15, gt=0, le=525600, alias="TRUSTBOT_ALERT_ESCALATE_MINUTES")

    # The customer's identity provider.
    identity_digest_quiet_seconds: float = Field(
        default=30, ge=0, le=86400, alias="TRUSTBOT_IDENTITY_DIGEST_QUIET_SECONDS"
    )

    # Credits.
    credit_thresholds: Annotated[list[Percent], NoDecode] = Field(
        default_factory=lambda: [50, 75, 90, 100], alias="TRUSTBOT_CREDIT_THRESHOLDS"
    )
    credit_expiry_warn_days: Annotated[list[DaysAhead], NoDecode] = Field(
        default_factory=lambda: [30, 7], alias="TRUSTBOT_CREDIT_EXPIRY_WARN_DAYS"
    )

    # Audit log.
    audit_key: SecretStr | None = Field(default=None, alias="TRUSTBOT_AUDIT_KEY")
    audit_channel: str | None = Field(default=None, alias="TRUSTBOT_AUDIT_CHANNEL")

    # The provider's gateway: the entitlements API and grant change webhooks.
    api_token: SecretStr | None = Field(default=None, alias="TRUSTBOT_API_TOKEN")
    webhook_url: str | None = Field(default=None, alias="TRUSTBOT_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, alias="TRUSTBOT_WEBHOOK_SECRET")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=600, alias="TRUSTBOT_WEBHOOK_TIMEOUT_SECONDS")
    webhook_retry_hours: float = Field(default=24.0, gt=0, le=8760, alias="TRUSTBOT_WEBHOOK_RETRY_HOURS")

    # The HTTP listener's own defences (a reverse proxy in front should time out sooner; see the README).
    http_header_timeout_seconds: float = Field(default=10, gt=0, le=3600, alias="TRUSTBOT_HTTP_HEADER_TIMEOUT_SECONDS")
    http_body_timeout_seconds: float = Field(default=30, gt=0, le=3600, alias="TRUSTBOT_HTTP_BODY_TIMEOUT_SECONDS")
    http_max_connections: int = Field(default=512, ge=1, le=1_000_000, alias="TRUSTBOT_HTTP_MAX_CONNECTIONS")
    # A separate listener for /metrics (e.g. 127.0.0.1:9100); unset port → /metrics on the main listener.
    metrics_host: str = Field(default="127.0.0.1", alias="TRUSTBOT_METRICS_HOST")
    metrics_port: int | None = Field(default=None, ge=0, le=65535, alias="TRUSTBOT_METRICS_PORT")
    # Customer workspaces (the README's "Customer workspaces"): OAuth installs and their tokens, encrypted at rest.
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(default=None, alias="SLACK_CLIENT_SECRET")
    secrets_key: SecretStr | None = Field(default=None, alias="TRUSTBOT_SECRETS_KEY")
    public_url: str | None = Field(default=None, alias="TRUSTBOT_PUBLIC_URL")
    install_link_days: float = Field(default=7, gt=0, le=365, alias="TRUSTBOT_INSTALL_LINK_DAYS")

    scheduler_enabled: bool = Field(default=True, alias="TRUSTBOT_SCHEDULER_ENABLED")
    shutdown_seconds: float = Field(default=10, ge=0, le=3600, alias="TRUSTBOT_SHUTDOWN_SECONDS")
    log_level: str = Field(default="INFO", alias="TRUSTBOT_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field(default="text", alias="TRUSTBOT_LOG_FORMAT")

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "ingest_secret",
        "audit_key",
        "api_token",
        "webhook_secret",
        "slack_client_secret",
        "secrets_key",
        mode="before",
    )
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        # `SLACK_APP_TOKEN=` in a .env must not switch Socket Mode on.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        raw = value.get_secret_value()
        try:
            key = base64.b64decode(raw.removeprefix("whsec_") + "==", validate=False)
        except (ValueError, binascii.Error):
            key = b""
        if not raw.startswith("whsec_") or not key:
            raise ValueError("must be whsec_ followed by a base64 key")
        return value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _blank_port_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secrets_key")
    @classmethod
    def _secrets_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked at start: a key that cannot decrypt would only show when the first token is needed.
        if value is not None:
            from trustbot.secrets import parse_keys

            parse_keys(value.get_secret_value())
        return value

    @field_validator("webhook_url", "public_url", "slack_client_id", mode="before")
    @classmethod
    def _blank_url_is_unset(cls, value: object) -> object:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
                raise ValueError("must be an http:// or https:// URL with a host")
            return value.rstrip("/")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_is_http(cls, value: str | None) -> str | None:
        # Checked at start: a URL no event can reach would fail every event for 24 hours first.
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
                raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("audit_channel", mode="before")
    @classmethod
    def _blank_channel_is_unset(cls, value: object) -> object:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("operators", mode="before")
    @classmethod
    def _operators(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator(
        "reverify_remind_days",
        "expiry_warn_days",
        "org_verification_warn_days",
        "credit_thresholds",
        "credit_expiry_warn_days",
        mode="before",
    )
    @classmethod
    def _int_lists(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (got {value!r})")
        return value.upper()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"not a database URL; use {DATABASE_URL_FORMS}") from None
        if (url.get_backend_name(), url.get_driver_name()) not in (("sqlite", "aiosqlite"), ("postgresql", "asyncpg")):
            shown = url.render_as_string(hide_password=True)
            raise ValueError(f"{shown} is not supported; use {DATABASE_URL_FORMS}") from None
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @property
    def socket_mode(self) -> bool:
        """Socket Mode is on when an app-level token is set."""
        return self.slack_app_token is not None

    @property
    def oauth_enabled(self) -> bool:
        """Customer workspaces may install Trustbot (`SLACK_CLIENT_ID` or `SLACK_CLIENT_SECRET` set)."""
        return self.slack_client_id is not None or self.slack_client_secret is not None

    @property
    def tz(self) -> ZoneInfo:
        """The zone dates are shown in."""
        return ZoneInfo(self.timezone)

    def require(self, *names: str) -> None:
        """Raise `SettingsError` naming every listed setting that is unset."""
        missing = [name for name in names if getattr(self, _FIELD_BY_ENV[name]) in (None, "")]
        if missing:
            raise SettingsError(f"missing required setting(s): {', '.join(missing)}")

    def missing_for_installs(self) -> list[str]:
        """The settings customer workspace installs need that are unset (all of them when none is set)."""
        needed = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "TRUSTBOT_SECRETS_KEY", "TRUSTBOT_PUBLIC_URL")
        return [name for name in needed if getattr(self, _FIELD_BY_ENV[name]) in (None, "")]

    def require_for_serve(self) -> None:
        """Check what `trustbot serve` cannot start without."""
        needed = ["SLACK_BOT_TOKEN"]
        if not self.socket_mode:
            needed.append("SLACK_SIGNING_SECRET")
        if self.webhook_url:
            needed.append("TRUSTBOT_WEBHOOK_SECRET")
        if self.oauth_enabled:  # installs half configured would store tokens in clear, or nowhere
            needed += self.missing_for_installs()
        self.require(*needed)


_FIELD_BY_ENV = {field.alias: name for name, field in Settings.model_fields.items() if field.alias}


def load_settings(**overrides: Any) -> Settings:
    """Build `Settings` from the environment, turning validation errors into one line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        parts = []
        for error in exc.errors():
            loc = error["loc"][0] if error["loc"] else "?"
            name = Settings.model_fields[loc].alias if loc in Settings.model_fields else str(loc)
            parts.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid setting(s): " + "; ".join(parts)) from None
