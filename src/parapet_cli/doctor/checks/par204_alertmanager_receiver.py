"""PAR204: the Alertmanager receiver that delivers to Parapet exists, is routed to, and authenticates."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from parapet_cli.doctor.checks._spec import BAD_CONFIG, GOOD_CONFIG, loaded_spec
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import get, yline

AUTH_KEYS = ("authorization", "basic_auth", "bearer_token", "bearer_token_file", "oauth2")
CRD_AUTH_KEYS = ("authorization", "basicAuth", "bearerTokenSecret", "oauth2")


@dataclass
class Config:
    path: str
    line: int | None
    receivers: list[dict[str, Any]]
    routed: set[str]
    crd: bool = False


def _routed(route: Any, out: set[str]) -> set[str]:
    if isinstance(route, dict):
        if isinstance(route.get("receiver"), str):
            out.add(route["receiver"])
        for child in route.get("routes") or []:
            _routed(child, out)
    return out


def _configs(ctx: Context) -> Iterator[Config]:
    for rel in ctx.repo.of_kind("yaml"):
        for doc in ctx.repo.yaml(rel):
            data = doc.data
            if not isinstance(data, dict):
                continue
            if isinstance(data.get("receivers"), list) and "route" in data:
                yield Config(rel, yline(doc, "receivers"), data["receivers"], _routed(data.get("route"), set()))
            elif data.get("kind") == "AlertmanagerConfig":
                receivers = get(data, "spec", "receivers")
                if isinstance(receivers, list):
                    yield Config(
                        rel,
                        yline(doc, "spec", "receivers"),
                        receivers,
                        _routed(get(data, "spec", "route"), set()),
                        crd=True,
                    )
            elif data.get("kind") in ("ConfigMap", "Secret"):
                for section in ("data", "stringData"):
                    values = data.get(section)
                    if not isinstance(values, dict):
                        continue
                    for key, text in values.items():
                        if isinstance(text, str) and "receivers:" in text and "route:" in text:
                            try:
                                inner = yaml.safe_load(text)
                            except yaml.YAMLError:
                                ctx.repo.note(
                                    rel, f"invalid Alertmanager YAML in {section}.{key}", yline(doc, section, key)
                                )
                                continue
                            if isinstance(inner, dict) and isinstance(inner.get("receivers"), list):
                                yield Config(
                                    rel,
                                    yline(doc, section, key),
                                    inner["receivers"],
                                    _routed(inner.get("route"), set()),
                                )


def _is_parapet(receiver: dict[str, Any], crd: bool) -> bool:
    if "parapet" in str(receiver.get("name", "")).lower():
        return True
    hooks = receiver.get("webhookConfigs" if crd else "webhook_configs") or []
    return any(isinstance(h, dict) and "parapet" in str(h.get("url", "")).lower() for h in hooks)


def _authenticated(hook: dict[str, Any], crd: bool) -> bool:
    http = hook.get("httpConfig" if crd else "http_config")
    keys = CRD_AUTH_KEYS if crd else AUTH_KEYS
    return isinstance(http, dict) and any(http.get(k) for k in keys)


EXAMPLES = (
    Example(
        "bad",
        BAD_CONFIG,
        fires=(
            ("monitoring/alertmanager.yml", 3, "error"),
            ("monitoring/alertmanager.yml", 3, "warning"),
        ),
    ),
    Example(
        "good",
        GOOD_CONFIG,
    ),
)


@check(
    "PAR204",
    "alertmanager-receiver",
    examples=EXAMPLES,
    title="No authenticated Alertmanager receiver delivers alerts to Parapet",
    severity=Severity.ERROR,
    fix=(
        "Add a receiver named parapet with webhook_configs: [{url: https://…/parapet/webhook, http_config: "
        "{authorization: {credentials_file: …}}}] and route Parapet's alerts to it (a route matching "
        "service=<your service>)."
    ),
)
def alertmanager_receiver(ctx: Context) -> Iterator[Finding]:
    """Parapet opens incidents from Alertmanager's webhook. Without a receiver that points at it nothing arrives;
    a receiver no route reaches is the same; and a webhook without auth lets anyone who can reach it open, flood
    or resolve incidents."""
    spec, notes = loaded_spec(ctx, THIS)
    yield from notes
    if spec is None:
        return
    configs = list(_configs(ctx))
    if not configs:
        yield Finding(
            THIS,
            Severity.INFO,
            "no Alertmanager configuration in the repository: the receiver for Parapet cannot be checked here",
            "keep alertmanager.yml (or the AlertmanagerConfig) in the repository to have it checked",
            subject="no alertmanager config",
        )
        return
    found = False
    for config in configs:
        for receiver in config.receivers:
            if not isinstance(receiver, dict) or not _is_parapet(receiver, config.crd):
                continue
            found = True
            name = str(receiver.get("name", ""))
            if name not in config.routed:
                yield Finding(
                    THIS,
                    Severity.WARNING,
                    f"receiver {name!r} delivers to Parapet but no route sends alerts to it",
                    "add a route with receiver: " + name,
                    path=config.path,
                    line=config.line,
                    subject=f"{name} not routed",
                )
            hooks = receiver.get("webhookConfigs" if config.crd else "webhook_configs") or []
            for hook in hooks:
                if isinstance(hook, dict) and not _authenticated(hook, config.crd):
                    yield Finding(
                        THIS,
                        Severity.ERROR,
                        f"receiver {name!r} calls Parapet's webhook without authentication",
                        "set http_config.authorization (or basic_auth) and the same secret in Parapet",
                        path=config.path,
                        line=config.line,
                        subject=f"{name} {hook.get('url', '')} no auth",
                    )
    if not found:
        first = configs[0]
        yield Finding(
            THIS,
            Severity.WARNING,
            "the Alertmanager configuration has no receiver for Parapet",
            "add a webhook receiver named parapet pointing at Parapet's webhook, with auth",
            path=first.path,
            line=first.line,
            subject="no parapet receiver",
        )
