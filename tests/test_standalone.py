"""The repository stands alone: no tracked file points at documents or paths outside it (a specification, a
folder of source documents or notes beside the checkout, a path on a developer's machine). Facts those held
are written here in the project's own words instead (README, docs/providers/)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

#: Each pattern, with an example of what it catches. Upper-case SPEC as a word of its own (also inside an
#: identifier such as `SPEC_EXAMPLE`), but not `SPECS` or `INSPECT`; absolute paths only where one starts
#: (so not inside a URL's path); the folders only as folders.
OUTSIDE_REFERENCES = {
    "a specification file (SPEC.md)": re.compile(r"SPEC\.md"),
    "the specification (SPEC)": re.compile(r"(?<![A-Za-z])SPEC(?![A-Za-z])"),
    "a folder beside the checkout (../shared)": re.compile(r"\.\./shared\b"),
    "a path on a machine (/work/, /root/, /home/)": re.compile(r"(?<![\w.-])/(?:work|root|home)/"),
    "source documents (seeds/)": re.compile(r"(?<![\w-])seeds/"),
    "notes (notes/providers)": re.compile(r"(?<![\w-])notes/providers"),
}


def tracked_text_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    return [path for path in listed.decode().split("\0") if path and path != THIS_FILE]


def outside_references(text: str) -> list[str]:
    """`line N: what` for every line of `text` that points outside the repository."""
    return [
        f"line {number}: {what}: {line.strip()[:120]}"
        for number, line in enumerate(text.splitlines(), start=1)
        for what, pattern in OUTSIDE_REFERENCES.items()
        if pattern.search(line)
    ]


def test_no_tracked_file_points_outside_the_repository() -> None:
    found: list[str] = []
    for path in tracked_text_files():
        content = (ROOT / path).read_bytes()
        if b"\0" in content:  # binary
            continue
        found += [f"{path} {where}" for where in outside_references(content.decode("utf-8", errors="replace"))]
    assert not found, "references to files outside the repository:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "as SPEC.md says",
        "one per row of SPEC's table",
        "(SPEC: The event contract)",
        "CONTRACT = SPEC_EXAMPLE",
        "SANDBOX_SPEC = {}",
        "see ../shared/notes",
        "cd /work/main && make",
        "`/root/.pyenv/shims/python3`",
        '"/home/user/accounts.toml"',
        "copied from seeds/cryptocloud.txt",
        "notes/providers.md says",
    ],
)
def test_each_kind_of_outside_reference_is_caught(line: str) -> None:
    assert outside_references(line)


@pytest.mark.parametrize(
    "line",
    [
        "SPECS = {...}",
        "INSPECT the specification of Standard Webhooks",
        "a sandbox account spec",
        "https://docs.example.com/home/payments and https://example.com/work/x",
        "seed = 7; the churn's seed; reseeded/",
        "release notes",
    ],
)
def test_legitimate_text_is_not_caught(line: str) -> None:
    assert not outside_references(line)
