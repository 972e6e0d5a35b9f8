"""SQLModel tables; importing this package registers every table on `SQLModel.metadata`."""

from trustbot.storage.tables.access import (
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
from trustbot.storage.tables.alerts import ACTIVE_ALERTS, SEVERITY_RANK, Alert, AlertOccurrence, AlertStatus, Severity
from trustbot.storage.tables.audit import AuditCheckpoint, AuditEvent
from trustbot.storage.tables.credits import CreditGrant, UsageRecord
from trustbot.storage.tables.delivery import OutboxMessage, OutboxOp, OutboxStatus, ProcessedSlackEvent, SlackMessage
from trustbot.storage.tables.directory import DirectoryState, Org, OrgDomain, OrgRole, Role, Tier, approvals_needed
from trustbot.storage.tables.identity import (
    HoldKind,
    IdentityChange,
    IdentityHold,
    ScimAddress,
    ScimGroup,
    ScimMember,
    ScimToken,
    ScimUser,
    SsfEventSeen,
)
from trustbot.storage.tables.installs import InstallLink, OAuthState, Workspace, WorkspaceStatus
from trustbot.storage.tables.jobs import JobRun, SentNotice

__all__ = [
    "SsfEventSeen",
    "ScimUser",
    "ScimToken",
    "ScimMember",
    "ScimGroup",
    "ScimAddress",
    "IdentityHold",
    "IdentityChange",
    "HoldKind",
    "ACTIVE_ALERTS",
    "LIVE_GRANTS",
    "OPEN_REQUESTS",
    "SEVERITY_RANK",
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
    "InstallLink",
    "JobRun",
    "OAuthState",
    "Org",
    "OrgDomain",
    "OrgRole",
    "OutboxMessage",
    "OutboxOp",
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
    "Workspace",
    "WorkspaceStatus",
    "approvals_needed",
]
