"""Access requests and the grants they create.

`requests` opens and submits requests; `decisions` approves, denies, asks for information and
takes the answer, all on one path; `grants` revokes and lists grants; `status` is the read model
behind `/trust status` and App Home; `sla` and `expiry` are the request-SLA and grant-expiry job
steps; `cards` and `lifecycle` hold what those share; `limits` the domain's text limits.
"""
