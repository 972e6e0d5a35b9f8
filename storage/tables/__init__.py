"""SQLModel tables; importing this package registers every table on `SQLModel.metadata`."""

from storage.tables.access import (
    LIVE_GRANTS,
    OPEN_REQUESTS,
    AccessRequest,
    Grant,
    GrantMember,
    GrantStatus,
    RequestApproval,
    RequestStatus,
    SuspensionReason,
)
from storage.tables.alerts import ACTIVE_ALERTS, Alert, AlertOccurrence, AlertStatus, Severity
from storage.tables.audit import AuditCheckpoint, AuditEvent
from storage.tables.credits import CreditGrant, UsageRecord
from storage.tables.delivery import OutboxMessage, OutboxStatus, ProcessedSlackEvent, SlackMessage
from storage.tables.directory import DirectoryState, Org, OrgDomain, OrgRole, Role, Tier
from storage.tables.jobs import JobRun, SentNotice

__all__ = [
    "ACTIVE_ALERTS",
    "LIVE_GRANTS",
    "OPEN_REQUESTS",
    "SuspensionReason",
    "AccessRequest",
    "Alert",
    "AlertOccurrence",
    "AlertStatus",
    "AuditCheckpoint",
    "AuditEvent",
    "CreditGrant",
    "DirectoryState",
    "Grant",
    "GrantMember",
    "GrantStatus",
    "JobRun",
    "Org",
    "OrgDomain",
    "OrgRole",
    "OutboxMessage",
    "OutboxStatus",
    "ProcessedSlackEvent",
    "RequestApproval",
    "RequestStatus",
    "Role",
    "SentNotice",
    "Severity",
    "SlackMessage",
    "Tier",
    "UsageRecord",
]
