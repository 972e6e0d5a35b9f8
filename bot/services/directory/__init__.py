"""The directory: orgs, people's roles and tiers. The file format (`file`), applying it (`apply`),
who someone is (`people`), what a batch renders with (`snapshot`), and org identity verification
(`verification`)."""
