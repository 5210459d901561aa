"""Escalation: who hears about an incident, and when, until someone acknowledges it.

Modules: ``chain`` (policy selection and the schedule of a chain's steps, working hours applied) and
``hours`` (working-hours calendars in IANA zones, daylight-saving changes included).
"""
