"""Keyword-only async query functions, one module per area; they flush but never commit."""
