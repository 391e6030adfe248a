"""The pure core of invoice-relay: the canonical invoice and event model, change detection, accounts and
the accounts file, and one module per provider (its account keys, list paging, record translation, callback
verification, answer classification), registered in `contracts.registry`.

Pure: no sockets, no Redis, no clock reads (callers pass `now` and `today` in): inputs in, values or typed
errors out. It imports nothing of ours outside `contracts`, and everything else may import it, except the
provider simulator in `sandbox`, which shares no code with it so as not to share a misreading of a provider.
"""
