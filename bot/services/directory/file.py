"""The directory file format (a contract): strict parsing with one line per problem.

`parse_directory` collects every problem into one `DirectoryError`, each line naming the org
(or tier) and field, so an operator fixes the whole file in one pass.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from trustbot.services.errors import DirectoryError
from trustbot.storage.tables import Role

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
USER_RE = re.compile(r"[UW][A-Z0-9]{2,31}")  # ≤ 32 chars: the width of the user id columns
CHANNEL_RE = re.compile(r"[CGD][A-Z0-9]{2,31}")
TEAM_RE = re.compile(r"[TE][A-Z0-9]{2,31}")  # a workspace (T…) or an Enterprise Grid org (E…)
DOMAIN_RE = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
CREDIT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_PROBLEMS_SHOWN = 50
_ROLE_FIELDS = {
    Role.REP: "rep",
    Role.BACKUP_REP: "backup_reps",
    Role.ADMIN: "admins",
    Role.SECURITY_LEAD: "security_leads",
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _matching(kind: str, regex: re.Pattern[str], *, lower: bool = False) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, str) and regex.fullmatch(value.lower() if lower else value):
            return value.lower() if lower else value
        raise PydanticCustomError("directory_format", "not {kind} ({value})", {"kind": kind, "value": _show(value)})

    return BeforeValidator(check)


def _day(value: Any) -> Any:
    # YAML turns 2027-06-30 into a date; accept quoted ISO dates too, refuse times and numbers.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("directory_date", "not a date like 2027-06-30 ({value})", {"value": _show(value)})


def _only_if(test: Any, message: str) -> BeforeValidator:
    # YAML's true/false would otherwise pass as 1/0 where numbers are expected.
    def check(value: Any) -> Any:
        if test(value):
            return value
        raise PydanticCustomError("directory_value", message + " ({value})", {"value": _show(value)})

    return BeforeValidator(check)


Slug = Annotated[str, _matching("a slug (lowercase letters, digits and dashes, at most 64)", SLUG_RE)]
UserId = Annotated[str, _matching("a Slack user id", USER_RE)]
ChannelId = Annotated[str, _matching("a Slack channel id", CHANNEL_RE)]
TeamId = Annotated[str, _matching("a Slack team id (T…) or Enterprise Grid org id (E…)", TEAM_RE)]
Domain = Annotated[str, _matching("an email domain", DOMAIN_RE, lower=True)]
CreditId = Annotated[str, _matching("a credit id (letters, digits, '.', '_', '-')", CREDIT_ID_RE)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Days = Annotated[StrictInt, Field(gt=0, le=36500)]
Day = Annotated[date, BeforeValidator(_day)]


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | str | Decimal)


Amount = Annotated[
    Decimal,
    _only_if(_is_number, "not an amount in USD"),
    Field(gt=0, max_digits=14, decimal_places=2, allow_inf_nan=False),
]


def _no_repeats(values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise PydanticCustomError(
            "directory_repeat", "listed more than once: {values}", {"values": ", ".join(repeated)}
        )
    return values


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierSpec(_Spec):
    """One capability tier."""

    id: Slug
    name: Name
    approvals: Annotated[Literal[1, 2], _only_if(lambda v: type(v) is int and v in (1, 2), "must be 1 or 2")]
    max_days: Days
    reverify_days: Days


class CreditSpec(_Spec):
    """One grant of API credits."""

    id: CreditId
    amount_usd: Amount
    starts: Day
    expires: Day

    @field_validator("expires")
    @classmethod
    def _after_start(cls, value: date, info: ValidationInfo) -> date:
        starts = info.data.get("starts")
        if starts is not None and value <= starts:
            raise PydanticCustomError(
                "directory_order", "must be after starts ({starts})", {"starts": starts.isoformat()}
            )
        return value


def _idp_url(value: str) -> str:
    parts = urlsplit(value)
    loopback = parts.hostname in {"127.0.0.1", "::1", "localhost"}
    if any(c.isspace() for c in value) or not parts.hostname or len(value) > 512:
        raise PydanticCustomError("directory_url", "must be an https:// URL with a host")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise PydanticCustomError("directory_url", "must be https:// (http:// only for a loopback address)")
    return value


class SsfSpec(_Spec):
    """The org's IdP as a Shared Signals transmitter: whose tokens we take, and where its keys are."""

    issuer: str
    jwks_uri: str

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _url(cls, value: str) -> str:
        return _idp_url(value)


class OrgSpec(_Spec):
    """One customer org and its people."""

    slug: Slug
    name: Name
    domains: list[Domain]
    rep: UserId
    backup_reps: list[UserId] = []
    admins: list[UserId] = []
    security_leads: list[UserId] = []
    security_channel: ChannelId | None = None
    max_tier: Slug | None = None
    verified_until: Day | None = None
    slack_team: TeamId | None = None
    connect_channel: ChannelId | None = None
    ssf: SsfSpec | None = None
    credits: list[CreditSpec] = []

    @field_validator("domains", "admins", "security_leads")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return _no_repeats(value)

    @field_validator("backup_reps")
    @classmethod
    def _backups(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("rep") in value:
            raise PydanticCustomError(
                "directory_rep", "the rep {rep} cannot also be a backup rep", {"rep": info.data["rep"]}
            )
        return _no_repeats(value)

    @model_validator(mode="after")
    def _connect_needs_team(self) -> OrgSpec:
        # The channel's people are external members known only by their own workspace's team id.
        if self.connect_channel is not None and self.slack_team is None:
            raise PydanticCustomError(
                "directory_connect",
                "connect_channel needs slack_team: the org's people in a Slack Connect channel are known by their "
                "own workspace",
            )
        return self


class DirectoryFile(_Spec):
    """The whole directory file."""

    operators: list[UserId] = []
    reps_channel: ChannelId
    security_channel: ChannelId
    tiers: list[TierSpec] | None = None
    orgs: list[OrgSpec]

    @model_validator(mode="after")
    def _consistent(self) -> DirectoryFile:
        tier_ids = [t.id for t in self.tiers] if self.tiers is not None else None
        problems = _cross_problems(tier_ids, [(o.slug, o.max_tier, [c.id for c in o.credits]) for o in self.orgs])
        if problems:
            raise PydanticCustomError("directory_cross", "{problems}", {"problems": "\n".join(problems)})
        return self


DEFAULT_TIERS: tuple[TierSpec, ...] = (
    TierSpec(id="standard", name="Standard", approvals=1, max_days=365, reverify_days=180),
    TierSpec(id="enhanced", name="Enhanced", approvals=1, max_days=180, reverify_days=90),
    TierSpec(id="frontier", name="Frontier", approvals=2, max_days=90, reverify_days=30),
)


def _cross_problems(tier_ids: list[str] | None, orgs: list[tuple[str, Any, list[Any]]]) -> list[str]:
    """Problems spanning entries: repeats, unknown tiers, shared credit ids.

    `tier_ids` is None when the file has no `tiers` (the defaults apply); `orgs` holds
    (slug, max_tier, credit ids) as written, so this also runs over a partly invalid file.
    """
    problems: list[str] = []
    if tier_ids == []:
        problems.append("field 'tiers': lists no tier (leave it out to use the default tiers)")
    ids = tier_ids or []
    problems += [
        f"tier {t!r}: field 'id': defined more than once" for t in sorted({t for t in ids if ids.count(t) > 1})
    ]
    slugs = [slug for slug, _, _ in orgs]
    problems += [
        f"org {s!r}: field 'slug': listed more than once" for s in sorted({s for s in slugs if slugs.count(s) > 1})
    ]
    known = set(ids) if tier_ids is not None else {t.id for t in DEFAULT_TIERS}
    owner_of: dict[str, tuple[int, int, str]] = {}
    for n, (slug, max_tier, credit_ids) in enumerate(orgs):
        if isinstance(max_tier, str) and known and max_tier not in known:
            problems.append(
                f"org {slug!r}: field 'max_tier': unknown tier {_show(max_tier)} (tiers: {', '.join(sorted(known))})"
            )
        for i, credit_id in enumerate(credit_ids):
            if isinstance(credit_id, str) and (owner := owner_of.setdefault(credit_id, (n, i, slug))) != (n, i, slug):
                problems.append(
                    f"org {slug!r}: field 'credits[{i}].id': credit id {_show(credit_id)} is also used by org "
                    f"{owner[2]!r}"
                )
    return problems


def _cross_problems_raw(raw: dict[Any, Any]) -> list[str]:
    """`_cross_problems` over whatever parts of a file that failed validation look usable."""

    def items(key: str) -> list[dict[Any, Any]]:
        value = raw.get(key)
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    tiers = raw.get("tiers")
    tier_ids = [t["id"] for t in items("tiers") if isinstance(t.get("id"), str)] if tiers is not None else None
    usable_tiers = tiers is None or (isinstance(tiers, list) and (tier_ids or not tiers))  # else skip max_tier checks
    if not usable_tiers:
        tier_ids = None
    orgs = [
        (
            org["slug"],
            org.get("max_tier") if usable_tiers else None,
            [c.get("id") for c in org["credits"] if isinstance(c, dict)]
            if isinstance(org.get("credits"), list)
            else [],
        )
        for org in items("orgs")
        if isinstance(org.get("slug"), str)
    ]
    return _cross_problems(tier_ids, orgs)


def _describe(error: Any, raw: dict[Any, Any]) -> list[str]:
    """One line per problem: `org 'acme': field 'rep': not a Slack user id ('bob')`."""
    if error["type"] == "directory_cross":
        return str(error["msg"]).split("\n")
    loc = list(error["loc"])
    label = None
    if len(loc) >= 2 and loc[0] in ("orgs", "tiers") and isinstance(loc[1], int):
        items = raw.get(loc[0])
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        kind, key = ("org", "slug") if loc[0] == "orgs" else ("tier", "id")
        name = item.get(key) if isinstance(item, dict) else None
        label = f"{kind} {_show(name)}" if isinstance(name, str) and name else f"{kind} #{loc[1] + 1}"
        loc = loc[2:]
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    if error["type"] == "missing":
        message = "required"
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"].startswith("directory_"):
        message = error["msg"]
    else:
        message = f"{error['msg'][:1].lower()}{error['msg'][1:]} (got {_show(error.get('input'))})"
    if not path and label is not None and error["type"] in ("model_type", "model_attributes_type"):
        message = "must be a mapping of fields"
    parts = [p for p in (label, f"field {path!r}" if path else None) if p]
    return [": ".join([*parts, message])]


def _summary(problems: list[str]) -> str:
    shown = problems[:MAX_PROBLEMS_SHOWN]
    more = [f"  … and {len(problems) - len(shown)} more"] if len(problems) > len(shown) else []
    noun = "problem" if len(problems) == 1 else "problems"
    return "\n".join([f"invalid directory file ({len(problems)} {noun}):", *(f"  {p}" for p in shown), *more])


class _Loader(yaml.SafeLoader):
    """Safe YAML that also refuses anchors and aliases (an alias bomb expands a few lines into gigabytes),
    repeated keys, and reports impossible dates with their line."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"key {key_node.value!r} appears twice",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a real date ({exc})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _refuse_anchors(text: str) -> None:
    """Refuse anchors and aliases before anything is built: a few lines of them expand into gigabytes."""
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
            raise yaml.MarkedYAMLError(
                problem="anchors and aliases (& and *) are not allowed in a directory file",
                problem_mark=token.start_mark,
            )


def parse_directory(text: str) -> DirectoryFile:
    """Parse and validate a directory file; every problem is reported in one `DirectoryError`."""
    try:
        _refuse_anchors(text)
        raw = yaml.load(text, Loader=_Loader)  # safe: _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DirectoryError(
            f"invalid directory file: YAML syntax error{where}: {exc.problem or exc.context}"
        ) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise DirectoryError(f"invalid directory file: not readable as YAML ({type(exc).__name__})") from None
    if raw is None:
        raise DirectoryError("invalid directory file: the file is empty")
    if not isinstance(raw, dict):
        raise DirectoryError(
            "invalid directory file: expected a mapping with operators, reps_channel, security_channel, tiers and orgs"
        )
    try:
        return DirectoryFile.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [line for error in errors for line in _describe(error, raw)]
        if not any(e["type"] == "directory_cross" for e in errors):
            problems += _cross_problems_raw(raw)
        raise DirectoryError(_summary(problems)) from None
