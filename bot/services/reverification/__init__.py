"""Re-verification of grants: reminders and suspension (`reminders`), the admin's attestation (`attest`)."""
