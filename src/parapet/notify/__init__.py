"""Notifiers: where an incident is announced (Slack, Microsoft Teams, a signed webhook, email)."""
