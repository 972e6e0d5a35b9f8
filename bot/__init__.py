"""Trustbot: the Slack front door of a trusted-access program for dual-use AI capabilities."""
