"""Customer workspaces: install links, the OAuth states issued for them, and each installation's status.

`links` issues an org's single-use install link and the OAuth state of each visit (the state names the
org through its link); `workspaces` records an installation, binds it to the org whose `slack_team` it
is (or leaves it unbound), ends it when Slack says it was uninstalled, and lists them.
"""
