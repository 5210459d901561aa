"""The shop's HTTP API: the routes parapet.yaml holds to its availability and latency SLOs.

Run it: uvicorn shop.app:app (after `alembic upgrade head`).
"""

from __future__ import annotations

import os

from fastapi import FastAPI, HTTPException
from parapet.metrics import metrics_asgi_app
from parapet.metrics.asgi import ParapetMiddleware
from parapet.metrics.journeys import declare_journeys, journey
from sqlalchemy import select

from shop.db import engine, orders, products
from shop.tasks import send_order_confirmation

declare_journeys("checkout")  # the journey parapet.yaml's checkout-journey SLO counts

app = FastAPI(title="shop", docs_url=None if os.environ.get("SHOP_ENV") == "production" else "/docs")
app.add_middleware(ParapetMiddleware)  # parapet: managed
app.add_route("/metrics", metrics_asgi_app(bearer_token=os.environ.get("METRICS_TOKEN") or None))  # parapet: managed


@app.get("/")
def index() -> dict[str, str]:
    return {"shop": "open"}


@app.get("/products/{product_id}")
def product(product_id: int) -> dict[str, int | str]:
    with engine.connect() as conn:
        row = conn.execute(select(products).where(products.c.id == product_id)).first()
    if row is None:
        raise HTTPException(status_code=404, detail="no such product")
    return {"id": row.id, "name": row.name}


@app.get("/cart")
def cart() -> dict[str, list[int]]:
    return {"items": []}


@app.post("/checkout", status_code=201)
def checkout() -> dict[str, int]:
    with journey("checkout"):
        with engine.begin() as conn:
            order_id = int(conn.execute(orders.insert().values(status="placed")).inserted_primary_key[0])
        send_order_confirmation.delay(order_id)
    return {"order_id": order_id}
