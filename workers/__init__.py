"""The worker process (`arq workers.settings.WorkerSettings`, the Procfile's `worker`).

- `workers.sync`: reading providers: claiming due accounts, the sync job, comparing and committing changes.
- `workers.delivery`: fan-out of logged events and delivery lanes to subscribers.
- `workers.retention`: trimming the log to `RELAY_RETENTION`.
- `bootstrap`: the one place that wires both together; `settings`: arq's configuration.

May import `contracts`, `service.state` and the process plumbing in `service`; never `service.web`, and
`sync`, `delivery` and `retention` never import each other (checked by `make lint`).
"""
