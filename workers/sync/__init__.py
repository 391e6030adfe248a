"""Syncing accounts: the dispatcher claims due accounts, the `sync_account` job reads the provider through
the one injectable `Sender` (logins included), and commits each change once through `service.state`."""
