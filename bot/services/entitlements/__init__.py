"""What the provider's gateway reads: who is entitled (`/v1/entitlements`, `/v1/grants`), grant change events
(webhooks, sent through the outbox) and the identity rules that keep named members verified people of their org."""
