"""Celery tasks: `celery -A shop.tasks worker` runs them, `celery -A shop.tasks beat` the nightly import."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from parapet.metrics.celery import instrument_celery

from shop.db import engine, orders, products

celery_app = Celery("shop", broker=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"))
instrument_celery(celery_app)  # parapet: managed
celery_app.conf.beat_schedule = {
    "import-catalogue": {"task": "shop.tasks.import_catalogue", "schedule": crontab(hour=2, minute=0)},
}


@celery_app.task
def send_order_confirmation(order_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(orders.update().where(orders.c.id == order_id).values(status="confirmed"))


@celery_app.task
def import_catalogue() -> int:
    names = ["kettle", "teapot", "mug"]
    with engine.begin() as conn:
        conn.execute(products.delete())
        conn.execute(products.insert(), [{"name": name} for name in names])
    return len(names)
