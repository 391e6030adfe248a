"""Keeping the log to `RELAY_RETENTION`: the trimmer, run in every worker, trimming in one at a time."""
