"""Alembic migrations of the store (run by ``Store.migrate()`` at start-up).

A package (with versions/ as one too) so that setuptools ships the scripts with the service.
New migration: ``alembic -c service/migrations/alembic.ini revision -m "what changes"``.
"""
