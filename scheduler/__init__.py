"""Scheduled jobs: the APScheduler setup, the job registry with cross-replica slot claims, and `trustbot jobs`."""
