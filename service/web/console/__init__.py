"""The operator console: server-rendered HTML pages under `/console`, signed in with RELAY_ADMIN_TOKEN.

Pages are Jinja2 templates (autoescaped: every value a provider or subscriber sent is shown as text); htmx,
served from `static/` like every other file the pages load, only refreshes the live parts, so each page reads
the same with JavaScript off. Every response carries a Content-Security-Policy that allows nothing inline.
The console reads and writes through the same store calls and `service.web.subscription_actions` as the
operator API.

Part of `service.web`: it imports what the web app may (`contracts`, `service.state`, the process plumbing).
"""
