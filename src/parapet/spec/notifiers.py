"""``notifiers:`` in a ``parapet/v1`` spec: one schema per notifier kind (``kind: slack|teams|webhook|email``).

A target is a name the escalation tiers and the outbox use (``notifiers: {ops-slack: {kind: slack, ...}}``).
A secret is never written in the spec: each secret field ``X`` of a kind is given as ``X_env`` (an environment
variable's name) or ``X_file`` (a file, relative to the spec), never both; ``SECRETS`` lists a kind's secret
fields and ``REQUIRED`` those it cannot work without. ``build.py`` maps an entry onto
``parapet.spec.model.NotifierSettings``; the runtime (``parapet.notify.registry``) builds the notifier.

Adding a kind: a schema class here (``kind: Literal[...]``, its secrets as ``*_env``/``*_file`` pairs, its
``SECRETS``/``REQUIRED``, and ``problems()`` for checks across fields), one member in ``NotifierEntry``, and a
module in ``parapet.notify`` named in ``parapet.notify.registry.MODULES``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, Field(pattern=ENV_NAME, max_length=255)]
FilePath = Annotated[str, Field(min_length=1, max_length=4096)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2048)]


class NotifierBase(BaseModel):
    """What every kind accepts: whether every incident is announced to the target (``announce``), beside the
    escalation tiers that name it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    SECRETS: ClassVar[tuple[str, ...]] = ()
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    kind: str
    announce: bool = Field(False, description="every incident's life goes to this target, not only escalations")

    def problems(self) -> list[tuple[str, str, str]]:
        """Checks across fields: (field, message, hint) for each problem; none by default."""
        return []


class SlackNotifier(NotifierBase):
    """Slack through the Web API (chat.postMessage once per incident, then chat.update in place)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("token", "signing_secret")
    REQUIRED: ClassVar[tuple[str, ...]] = ("token",)

    kind: Literal["slack"]
    channel: str = Field(min_length=1, max_length=80, description="a channel id (C0123ABCD) or #name")
    token_env: EnvName | None = None
    token_file: FilePath | None = None
    signing_secret_env: EnvName | None = None
    signing_secret_file: FilePath | None = None
    buttons: bool = Field(False, description="Acknowledge / Resolve buttons (needs the signing secret)")
    users: dict[Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,31}$")], Annotated[str, Field(min_length=1)]] = Field(
        {}, description="Slack user id -> Parapet user name, for the buttons"
    )
    api_url: HttpUrl | None = Field(None, description="the Web API's base URL (GovSlack, a proxy, tests)")

    def problems(self) -> list[tuple[str, str, str]]:
        if self.buttons and self.signing_secret_env is None and self.signing_secret_file is None:
            return [
                (
                    "buttons",
                    "buttons need the Slack app's signing secret",
                    "set signing_secret_env or signing_secret_file, or remove buttons: true",
                )
            ]
        return []


class TeamsNotifier(NotifierBase):
    """Microsoft Teams through a Workflows webhook (its URL carries a ``sig=`` secret, so the URL is the secret)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("url",)
    REQUIRED: ClassVar[tuple[str, ...]] = ("url",)

    kind: Literal["teams"]
    url_env: EnvName | None = None
    url_file: FilePath | None = None


class WebhookNotifier(NotifierBase):
    """A generic webhook signed with HMAC-SHA256. The URL is written as it is (``url``), or, when it holds a
    token of its own, as a secret (``url_env`` / ``url_file``)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("url", "secret")
    REQUIRED: ClassVar[tuple[str, ...]] = ("secret",)

    kind: Literal["webhook"]
    url: HttpUrl | None = None
    url_env: EnvName | None = None
    url_file: FilePath | None = None
    secret_env: EnvName | None = None
    secret_file: FilePath | None = None

    def problems(self) -> list[tuple[str, str, str]]:
        given = [k for k in ("url", "url_env", "url_file") if getattr(self, k) is not None]
        if len(given) != 1:
            return [
                (
                    given[1] if len(given) > 1 else "url",
                    "a webhook needs exactly one of url, url_env and url_file",
                    "write url: https://... or, when the URL holds a token, url_env or url_file",
                )
            ]
        return []


class EmailNotifier(NotifierBase):
    """Email through SMTP; the password is the secret, and it only travels over TLS."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password",)
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    kind: Literal["email"]
    host: str = Field(min_length=1, max_length=255)
    port: int | None = Field(None, ge=1, le=65535, description="default: 587 (starttls), 465 (ssl), 25 (none)")
    security: Literal["starttls", "ssl", "none"] = Field("starttls", description="how the connection is encrypted")
    sender: str = Field(min_length=3, max_length=320, alias="from")
    to: list[Annotated[str, Field(min_length=3, max_length=320)]] = Field(min_length=1)
    username: str | None = Field(None, min_length=1, max_length=320)
    password_env: EnvName | None = None
    password_file: FilePath | None = None
    ca_file: FilePath | None = Field(None, description="a private CA's certificates, relative to the spec")

    def problems(self) -> list[tuple[str, str, str]]:
        has_password = self.password_env is not None or self.password_file is not None
        if has_password and self.username is None:
            return [("username", "a password needs the username it belongs to", "set username")]
        if self.username is not None and not has_password:
            return [("username", "a username needs its password", "set password_env or password_file")]
        if has_password and self.security == "none":
            return [
                (
                    "security",
                    "a password is only sent over TLS",
                    "use security: starttls (port 587) or ssl (port 465); none is for a local relay without login",
                )
            ]
        bad = [a for a in (self.sender, *self.to) if "@" not in a or any(c in a for c in "\r\n")]
        if bad:
            return [
                ("to" if bad[0] != self.sender else "from", f"{bad[0]!r} is not an email address", "write name@domain")
            ]
        return []


def _kind(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


NotifierEntry = Annotated[
    Annotated[SlackNotifier, Tag("slack")]
    | Annotated[TeamsNotifier, Tag("teams")]
    | Annotated[WebhookNotifier, Tag("webhook")]
    | Annotated[EmailNotifier, Tag("email")],
    Discriminator(_kind),
]
KINDS: tuple[str, ...] = ("slack", "teams", "webhook", "email")
