"""The service side of invoice-relay.

- `service.state`: the Redis layout and the stores over it; the only package that knows a key name.
- `service.web`: the Starlette app (the Procfile's `web`).
- `service.cli`: `relay`, a client of the operator API; `service.check`: the Procfile's `release`.
- here: settings (`config`), logging, metrics and the SSRF rule, shared by every process.

May import `contracts` and `service.state`; never `workers` or `sandbox` (checked by `make lint`).
"""
