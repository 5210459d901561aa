"""Every built-in check, one module each; ``registry.load()`` imports them, which registers them."""

MODULES = (
    "par101_celery_beat",
    "par102_scheduler_in_web",
    "par103_sqlite_shared",
    "par104_per_process_state",
    "par105_multiprocess_metrics",
    "par106_metrics_public",
    "par109_cron_in_image",
    "par110_cronjob_hygiene",
    "par111_migrations_at_boot",
    "par112_prefork_connections",
    "par115_parapet_jobs",
    "par201_spec_loads",
    "par202_generated_fresh",
    "par203_runbooks",
    "par204_alertmanager_receiver",
    "par207_teams_connector",
    "par209_audit_secrets",
    "par301_store",
    "par302_promtool",
    "par303_worker_heartbeat",
)
