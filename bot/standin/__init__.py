"""Local stand-ins for Slack: a fake Web API server and signed request builders."""
