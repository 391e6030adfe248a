"""The Starlette app (`service.web.app:create_app`, the Procfile's `web`): thin handlers that parse, verify
with `contracts`, write through `service.state`, and answer.

May import `contracts`, `service.state` and the process plumbing in `service`; never `workers` (checked by
`make lint`).
"""
