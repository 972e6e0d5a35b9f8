"""The customer's identity provider: its SCIM users and groups, its Shared Signals, and what they do to coverage."""
