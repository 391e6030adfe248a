"""A runnable model of the four payment providers, built from their documents for testing the relay.

It shares no code with `contracts`, `service` or `workers` on purpose: a misreading of a provider's
documents in one of them shows up as a disagreement with the other.
"""
