"""The Redis state: key names (`keys`), the Lua scripts and the stores over them, bundled as `stores.Stores`.

The only owner of the Redis layout: every key name is built in `keys` and reaches a script as KEYS, never
rebuilt inside one. Used by the web app and the worker alike; imports nothing of ours but `contracts`
(checked by `make lint`).
"""
