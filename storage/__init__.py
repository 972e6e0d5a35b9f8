"""Persistence: engine and sessions, SQLModel tables, keyword-only queries, migrations."""
