"""The evidence spine as a reusable Django app: add ``"parapet.contrib.django"`` to ``INSTALLED_APPS``, then
``python manage.py migrate parapet``. The app has no models: Parapet reads and writes the tables through
SQLAlchemy Core (``parapet.evidence``); its migrations create exactly the tables ``parapet gen spine`` writes
for Alembic and plain SQL, with the same names.
"""
