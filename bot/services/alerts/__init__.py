"""Suspicious-activity alerts: ingest and grouping (`ingest`), how they reach Slack (`rendering`),
what people do with them (`actions`), escalation (`escalation`) and `/trust alerts` (`listing`)."""
