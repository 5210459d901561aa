"""Who is asking, and what they may do: users, roles, and the three ways a user is known.

    Role             viewer < responder < admin; ``can(role, action)`` is the only permission check
    User             a name and a role; names starting ``system:`` are reserved for system identities
    UserProvider     the host's callable: request -> User | None (sync or async), reads the host's session
    UsersFile        ``parapet serve``'s own users: ``name role $argon2id$…`` lines, re-read when changed
    TrustedProxies   a user (and optionally a role) from headers, believed only from allow-listed networks
    Authenticator    the order they are tried in; ``anonymous_role`` only for ``--insecure-local``

A responder acknowledges, resolves, reopens and writes notes (acknowledging never needs admin: Grafana
OnCall #3091). Admin holds every right a responder has, and is the role later admin-only actions require.
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.requests import HTTPConnection, Request

from parapet.errors import ConfigError, OptionError


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


ROLE_ORDER: Final = (Role.VIEWER, Role.RESPONDER, Role.ADMIN)

# Every action a form can post, and the least role that may post it.
ACTIONS: Final[dict[str, Role]] = {
    "view": Role.VIEWER,
    "acknowledge": Role.RESPONDER,
    "resolve": Role.RESPONDER,
    "reopen": Role.RESPONDER,
    "note": Role.RESPONDER,
    "view_jobs": Role.ADMIN,  # the work engine's admin page (parapet.web.jobs)
    "retry_jobs": Role.ADMIN,
    "escalate": Role.RESPONDER,
    "mitigate": Role.RESPONDER,  # run a runbook's mitigation, or switch its automatic runs on an incident
}

SYSTEM_PREFIX: Final = "system:"
NAME_MAX: Final = 200
_NAME = re.compile(r"^[^\s:][^\s]{0,199}$")


def can(role: Role, action: str) -> bool:
    """True when ``role`` may perform ``action`` (an unknown action is refused)."""
    least = ACTIONS.get(action)
    return least is not None and ROLE_ORDER.index(role) >= ROLE_ORDER.index(least)


@dataclass(frozen=True)
class User:
    """An operator. ``role`` accepts the role's name."""

    name: str
    role: Role = Role.VIEWER
    source: str = field(default="host", compare=False)  # host, users-file, proxy, local

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))
        if not self.name or self.name.startswith(SYSTEM_PREFIX) or len(self.name) > NAME_MAX:
            raise ValueError(f"invalid operator name {self.name!r}: empty, too long, or a system: identity")

    def can(self, action: str) -> bool:
        return can(self.role, action)


UserProvider = Callable[[HTTPConnection], "User | Awaitable[User | None] | None"]


# -- parapet serve's users file --------------------------------------------------------------------

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so an unknown name costs as long as a wrong password."""
    return _hasher.hash("parapet-no-such-user")


def hash_password(password: str) -> str:
    """An argon2id hash (argon2-cffi's defaults, RFC 9106's second recommended profile)."""
    if not password:
        raise ConfigError("the password is empty", hint="choose a password of at least 12 characters")
    return _hasher.hash(password)


@dataclass(frozen=True)
class UserRecord:
    name: str
    role: Role
    password_hash: str


def parse_users(text: str, path: Path) -> dict[str, UserRecord]:
    """``name role hash`` per line; blank lines and ``#`` comments are skipped. Errors name file:line:col."""
    users: dict[str, UserRecord] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        column = len(line) - len(line.lstrip()) + 1
        parts = stripped.split()
        where = f"{path}:{number}:{column}"
        if len(parts) != 3:
            raise OptionError(
                f"{where}: a user line has {len(parts)} fields, expected 3 (name role hash)",
                hint="write users with `{add_user_as}`",
                options=("add_user_as",),
            )
        name, role, hashed = parts
        if not _NAME.match(name) or name.startswith(SYSTEM_PREFIX):
            raise ConfigError(f"{where}: invalid user name {name!r}", hint="no spaces, no leading ':', not system:")
        if role not in Role.__members__.values():
            raise ConfigError(
                f"{where}: unknown role {role!r} for {name!r}", hint=f"use one of {', '.join(r.value for r in Role)}"
            )
        if not hashed.startswith("$argon2"):
            raise ConfigError(
                f"{where}: the password of {name!r} is not an argon2 hash",
                hint="hash it with `parapet users add` (never store a plain password)",
            )
        if name in users:
            raise ConfigError(f"{where}: user {name!r} is listed twice", hint="keep one line per user")
        users[name] = UserRecord(name, Role(role), hashed)
    return users


class UsersFile:
    """The users file, re-read whenever its modification time or size changes (removing a line ends
    that user's sessions at their next request)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, UserRecord] = {}
        self.users()  # fail at start-up, not at the first login

    def users(self) -> dict[str, UserRecord]:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise _unreadable(self.path, exc) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._users = parse_users(read_users_text(self.path), self.path)
            self._stamp = stamp
        return self._users

    def lookup(self, name: str) -> User | None:
        record = self.users().get(name)
        return User(record.name, record.role, source="users-file") if record else None

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password matches; None otherwise (same cost for unknown names)."""
        record = self.users().get(name)
        try:
            _hasher.verify(record.password_hash if record else _dummy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return User(record.name, record.role, source="users-file") if record else None


def _unreadable(path: Path, exc: OSError) -> OptionError:
    return OptionError(
        f"cannot read the users file {path}: {exc.strerror or exc}",
        hint="create it with `{add_user}`",
        options=("add_user",),
    )


def read_users_text(path: Path) -> str:
    """The users file's text, or ConfigError naming the file (unreadable, a directory, not UTF-8, a loop)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the users file is not UTF-8 (byte {exc.start})", hint="write it with `parapet users add`"
        ) from None
    except OSError as exc:
        raise _unreadable(path, exc) from None


def check_new_user(path: Path, name: str) -> str:
    """The users file's current text (empty when absent), after checking the name and that the file is sound:
    called before a password is asked for, so a broken file fails first."""
    if not _NAME.match(name) or name.startswith(SYSTEM_PREFIX):
        raise ConfigError(f"invalid user name {name!r}", hint="no spaces, no leading ':', not system:")
    existing = read_users_text(path) if path.exists() or path.is_symlink() else ""
    parse_users(existing, path)  # refuse to rewrite a file that is already broken
    return existing


def add_user(path: Path, name: str, role: Role, password: str) -> bool:
    """Add or replace ``name`` in the users file (created 0600); True when it replaced a line."""
    existing = check_new_user(path, name)
    line = f"{name} {role.value} {hash_password(password)}"
    lines, replaced = [], False
    for old in existing.splitlines():
        parts = old.split()
        if parts and not old.lstrip().startswith("#") and parts[0] == name:
            lines.append(line)
            replaced = True
        else:
            lines.append(old)
    if not replaced:
        lines.append(line)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        tmp.replace(path)
    except OSError as exc:
        raise OptionError(
            f"cannot write the users file {path}: {exc.strerror or exc}",
            hint="choose a writable {users_file}",
            options=("users_file",),
        ) from None
    return replaced


# -- trusted proxies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedProxies:
    """Believe ``user_header`` (and ``role_header``) only on requests whose peer is in ``networks``."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    user_header: str = "X-Forwarded-User"
    role_header: str | None = None
    default_role: Role = Role.VIEWER

    @classmethod
    def parse(
        cls,
        networks: Sequence[str],
        *,
        user_header: str = "X-Forwarded-User",
        role_header: str | None = None,
        default_role: str = "viewer",
    ) -> TrustedProxies:
        parsed = []
        for raw in networks:
            try:
                parsed.append(ipaddress.ip_network(raw.strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    f"{raw!r} is not a network", hint="write an address or a CIDR, e.g. 10.0.0.0/8 or 127.0.0.1"
                ) from None
        if not parsed:
            raise OptionError(
                "trusted proxies need at least one network", hint="e.g. {networks} 127.0.0.1", options=("networks",)
            )
        try:
            role = Role(default_role)
        except ValueError:
            raise ConfigError(f"unknown role {default_role!r}", hint="use viewer, responder or admin") from None
        return cls(tuple(parsed), user_header, role_header, role)

    def trusts(self, peer: str | None) -> bool:
        if peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def user(self, request: Request) -> User | None:
        peer = request.client.host if request.client else None
        if not self.trusts(peer):
            return None
        name = request.headers.get(self.user_header, "").strip()
        if not name or not _NAME.match(name) or name.startswith(SYSTEM_PREFIX):
            return None
        role = self.default_role
        if self.role_header:
            raw = request.headers.get(self.role_header, "").strip().lower()
            if raw in Role.__members__.values():
                role = Role(raw)
        return User(name, role, source="proxy")


# -- the order of sources --------------------------------------------------------------------------


@dataclass
class Authenticator:
    """Tries the host's provider, then trusted proxy headers, then a signed-in user of the users file,
    then (``--insecure-local`` only) an anonymous local user with ``anonymous_role``."""

    user_provider: UserProvider | None = None
    users_file: UsersFile | None = None
    trusted_proxies: TrustedProxies | None = None
    anonymous_role: Role | None = None
    login_url: str | None = None  # where the host signs people in, when it supplies the user

    @property
    def configured(self) -> bool:
        return any(
            x is not None for x in (self.user_provider, self.users_file, self.trusted_proxies, self.anonymous_role)
        )

    async def user(self, request: Request, session_user: str | None) -> User | None:
        if self.user_provider is not None:
            found = self.user_provider(request)
            if inspect.isawaitable(found):
                found = await found
            if found is not None:
                if not isinstance(found, User):
                    raise TypeError(f"the user provider returned {type(found).__name__}, expected parapet.web.User")
                return found
        if self.trusted_proxies is not None:
            proxied = self.trusted_proxies.user(request)
            if proxied is not None:
                return proxied
        if self.users_file is not None and session_user:
            known = self.users_file.lookup(session_user)
            if known is not None:
                return known
        if self.anonymous_role is not None:
            return User("local", self.anonymous_role, source="local")
        return None
