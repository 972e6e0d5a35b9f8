"""Slack listeners grouped by feature, and the HTTP endpoints. Thin: ack, parse, call, render, reply."""
