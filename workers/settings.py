"""The worker process: `arq workers.settings.WorkerSettings --custom-log-dict workers.settings.ARQ_LOG_CONFIG`
(the Procfile's `worker`).

The configuration is read when arq imports this module, before it connects to Redis: an invalid one ends
the process at once (status 2, one line per problem, as `relay check` prints them) rather than after Redis
answers. Logging is configured here too, at import: arq's command line would otherwise configure logging with
its own plain-text handler and log its first lines before `on_startup`; `ARQ_LOG_CONFIG` (which changes
nothing) takes the place of arq's own configuration, so every line goes through the same renderer, the first
attempt to reach Redis (and its failures) included.
"""

from __future__ import annotations

import orjson
from arq.worker import func

from service.config import load_settings_or_exit
from service.logging import configure_logging
from service.state.connection import redis_target
from service.tracing import configure_tracing
from workers.bootstrap import arq_redis_settings, redis_pool, shutdown, startup
from workers.sync.jobs import sync_account

#: For arq's `--custom-log-dict`: an incremental configuration with nothing in it, so that the logging set up
#: at import stays as it is.
ARQ_LOG_CONFIG = {"version": 1, "incremental": True}

#: A sync of a very large account may take minutes; past this arq cancels it (and the lease runs out).
SYNC_JOB_TIMEOUT_S = 900


SETTINGS = load_settings_or_exit()
configure_logging(SETTINGS.secrets(), log_format=SETTINGS.log_format, level=SETTINGS.log_level)
configure_tracing("worker")
REDIS = redis_target(SETTINGS.redis_url)


class WorkerSettings:
    functions = [func(sync_account, name="sync_account", timeout=SYNC_JOB_TIMEOUT_S, keep_result=0, max_tries=3)]
    on_startup = startup
    on_shutdown = shutdown
    ctx = {"settings": SETTINGS}
    redis_pool = redis_pool(REDIS)
    redis_settings = arq_redis_settings(REDIS)
    job_serializer = orjson.dumps
    job_deserializer = orjson.loads
    # arq's default 0.5 s poll adds ~250 ms median per hop; 30 ms keeps the hop from a claimed account to its
    # sync short (the dispatcher itself wakes at once on a notice), for 33 queue reads a second: at 10 ms they were
    # most of an idle worker's CPU, ~7% of a core (`make bench`, idle).
    poll_delay = 0.03
    max_jobs = 20
    keep_result = 60
    # arq writes its health-check key with a plain PSETEX, and a write refused by a full Redis (maxmemory,
    # noeviction) raises out of arq's main loop and ends the worker: written once a day, not every 10 s.
    health_check_interval = 86_400
    job_timeout = SYNC_JOB_TIMEOUT_S
