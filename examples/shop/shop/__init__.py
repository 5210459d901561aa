"""The example shop: a FastAPI app (app), its SQLAlchemy engine and tables (db), its Celery tasks (tasks)."""
