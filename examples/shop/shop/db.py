"""One SQLAlchemy engine for the process, and the tables Alembic migrates (migrations/)."""

from __future__ import annotations

import os

from parapet.metrics.sqlalchemy import instrument_engine
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine

DATABASE_URL = os.environ.get("SHOP_DATABASE_URL", "sqlite:///shop.db")

metadata = MetaData()
products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
)
orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("status", String(20), nullable=False),
)

engine = create_engine(DATABASE_URL)
instrument_engine(engine)  # parapet: managed
