"""Integrations with host frameworks (each imports its framework only when used)."""
