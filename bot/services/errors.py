"""Domain exceptions; `handlers` turn every one of them into an ephemeral reply."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal a person should read; `str(error)` is the sentence shown to them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthorized(DomainError):
    """The user has no role that allows this (deny by default)."""


class UnknownUser(NotAuthorized):
    """The user is not in the directory at all."""


class NotAccountRep(NotAuthorized):
    """Only the org's rep, backup reps or operators may do this."""


class NotSecurityLead(NotAuthorized):
    """Only the org's security leads or operators may do this."""


class NotOrgAdmin(NotAuthorized):
    """Only the org's admins (or operators) may do this."""


class SelfApproval(NotAuthorized):
    """Nobody approves their own request."""


class NotFound(DomainError):
    """The thing named does not exist (or the user may not see it)."""


class AlreadyDecided(DomainError):
    """The request or alert is no longer in a state that allows this action."""


class AlreadyDone(DomainError):
    """This exact action by this person already happened (a double click)."""


class InvalidState(DomainError):
    """The object's state forbids the action (a revoked grant cannot be re-verified, …)."""


class InvalidInput(DomainError):
    """Typed input is wrong; `errors` maps modal block ids to inline messages."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class DirectoryError(DomainError):
    """A directory file is invalid; the message names the org and field."""
