"""The pure core of invoice-relay: the canonical invoice and event model, change detection, and one
module per provider (list paging, record translation, callback verification, answer classification).

Nothing here opens a socket, touches Redis or reads the clock: inputs in, values or typed errors out.
"""
