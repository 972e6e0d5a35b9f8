"""Grant-program API credits: usage ingest (`ingest`), attribution and balances (`usage`),
`/trust credits` (`listing`), and the threshold, expiry and digest announcements (`notices`)."""
