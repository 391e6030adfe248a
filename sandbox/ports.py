"""Is a loopback TCP port free, and if not, which process listens on it: for a message that names the holder.

The holder is found the way `ss -ltnp` finds it, from /proc: the listening socket's inode in /proc/net/tcp and
tcp6, then the process with a file descriptor on that socket. Where /proc is missing or another user's process
cannot be read, the message says only "another process".
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # the TCP_LISTEN state as /proc/net/tcp writes it


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on `host:port` now (a port held only by TIME_WAIT connections is free:
    the demo's servers set SO_REUSEADDR as this check does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def listening_inodes(port: int, proc: Path = PROC) -> set[str]:
    """Inodes of the sockets listening on `port`, on any address, IPv4 or IPv6."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            _, _, port_hex = fields[1].rpartition(":")
            if int(port_hex, 16) == port and fields[9] != "0":
                found.add(fields[9])
    return found


def socket_owner(inodes: set[str], proc: Path = PROC) -> int | None:
    """The id of a process holding one of these sockets; None when none can be read."""
    targets = {f"socket:[{inode}]" for inode in inodes}
    try:
        pids = [entry.name for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            fds = list((proc / pid / "fd").iterdir())
        except OSError:  # gone, or another user's
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    return int(pid)
            except OSError:
                continue
    return None


def command_line(pid: int, proc: Path = PROC, limit: int = 160) -> str:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    text = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part) or "?"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def holder(port: int, proc: Path = PROC) -> str:
    """Who listens on `port`: `pid 1234 (python -m ...)`, or `another process` when /proc does not tell."""
    inodes = listening_inodes(port, proc)
    pid = socket_owner(inodes, proc) if inodes else None
    return "another process" if pid is None else f"pid {pid} ({command_line(pid, proc)})"
