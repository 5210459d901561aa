"""The app's configuration: label ``parapet`` (``manage.py migrate parapet``)."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]


class ParapetConfig(AppConfig):  # type: ignore[misc]
    name = "parapet.contrib.django"
    label = "parapet"
    verbose_name = "Parapet evidence spine"
    default_auto_field = "django.db.models.BigAutoField"
