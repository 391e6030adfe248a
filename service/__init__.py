"""The Starlette app: callbacks, polling triggers, the operator API."""
