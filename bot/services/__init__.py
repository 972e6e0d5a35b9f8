"""Domain rules. Each public service takes a session and a clock, and is one unit of work.

No `slack_bolt` imports here: services speak in domain exceptions and outbox rows.
"""
