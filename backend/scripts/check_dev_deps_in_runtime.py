#!/usr/bin/env python3
"""Report development-only packages installed in the running interpreter's environment.

    python backend/scripts/check_dev_deps_in_runtime.py [--format text|json]

Reads backend/requirements.txt (runtime) and backend/requirements-dev.txt (development), following
``-r`` includes, extras and environment markers, with names normalised per PEP 503. The runtime
closure is every installed distribution that the runtime requirements pull in, transitively (from
each distribution's own ``Requires-Dist`` metadata); nothing in it is ever reported. A package is
dev-only when the development requirements, directly or transitively, pull it in and the runtime
closure does not.

Exit status: 0 none installed, 1 some installed (printed one a line), 2 a requirements file could not
be read or parsed (the message names the file and line).

It imports nothing of the project and needs only the standard library plus ``packaging`` (pip's
vendored copy when the environment has no ``packaging``: a runtime-only environment usually has none,
and pip is in every virtual environment), so the runtime interpreter itself can run it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

try:
    from packaging.markers import Marker
    from packaging.requirements import InvalidRequirement, Requirement
except ImportError:  # pragma: no cover - depends on what the environment has installed
    try:
        from pip._vendor.packaging.markers import Marker  # type: ignore[no-redef,assignment,unused-ignore]
        from pip._vendor.packaging.requirements import (  # type: ignore[no-redef,assignment,unused-ignore]
            InvalidRequirement,
            Requirement,
        )
    except ImportError:
        print("error: this interpreter has neither `packaging` nor pip; install pip to run the check", file=sys.stderr)
        sys.exit(2)

BACKEND_DIR = Path(__file__).resolve().parent.parent
DEFAULT_RUNTIME = BACKEND_DIR / "requirements.txt"
DEFAULT_DEV = BACKEND_DIR / "requirements-dev.txt"

EXIT_OK, EXIT_FOUND, EXIT_BAD_FILE = 0, 1, 2

# pip options that may appear in a requirements file and add no requirement of their own
_IGNORED_OPTIONS = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--pre",
    "--prefer-binary",
    "--only-binary",
    "--no-binary",
    "--trusted-host",
    "--use-feature",
    "--require-hashes",
    "-c",
    "--constraint",  # constraints restrict versions; they add no requirement
}
_INCLUDE_OPTIONS = {"-r", "--requirement"}
_EDITABLE_OPTIONS = {"-e", "--editable"}
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


class RequirementsError(Exception):
    """A requirements file cannot be read or parsed; the message names the file and line."""


@dataclass(frozen=True)
class Listed:
    """One requirement line: what it asks for and where it is written."""

    requirement: Requirement
    path: Path
    line: int

    @property
    def name(self) -> str:
        return normalise(self.requirement.name)

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def _logical_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(first physical line number, text) with comments removed and backslash continuations joined."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RequirementsError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RequirementsError(f"{path}: cannot read: {exc}") from exc
    pending, start = "", 0
    for number, text in enumerate(raw.splitlines(), start=1):
        if not pending:
            start = number
        # a comment starts at a '#' at the line start or after whitespace (URLs keep their '#egg=')
        text = re.sub(r"(^|\s)#.*$", "", text)
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        line = (pending + text).strip()
        pending = ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def parse_requirements(path: Path, _seen: frozenset[Path] = frozenset()) -> list[Listed]:
    """Every requirement of ``path`` and of the files it includes with ``-r``."""
    path = path.resolve()
    if path in _seen:
        raise RequirementsError(f"{path}: includes itself (through -r)")
    seen = _seen | {path}
    listed: list[Listed] = []
    for number, line in _logical_lines(path):
        if line.startswith("-"):
            option, _, value = line.partition(" ")
            if "=" in option and option.startswith("--"):
                option, _, value = option.partition("=")
            value = value.strip()
            if option in _INCLUDE_OPTIONS:
                if not value:
                    raise RequirementsError(f"{path}:{number}: {option} needs a file name")
                try:
                    listed += parse_requirements(path.parent / value, seen)
                except RequirementsError as exc:
                    raise RequirementsError(f"{exc} (included from {path}:{number})") from exc
                continue
            if option in _EDITABLE_OPTIONS:
                egg = _EGG.search(value)
                if egg:
                    listed.append(Listed(Requirement(egg.group(1)), path, number))
                continue
            if option in _IGNORED_OPTIONS:
                continue
            raise RequirementsError(f"{path}:{number}: unsupported option {option!r}")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise RequirementsError(f"{path}:{number}: invalid requirement {line!r}: {exc}") from exc
        listed.append(Listed(requirement, path, number))
    return listed


def _marker_applies(marker: Marker | None, extras: Iterable[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in ("", *extras))


@dataclass
class Installed:
    """The distributions visible to this interpreter, by normalised name (first on sys.path wins)."""

    dists: dict[str, metadata.Distribution] = field(default_factory=dict)

    @classmethod
    def scan(cls) -> Installed:
        dists: dict[str, metadata.Distribution] = {}
        for dist in metadata.distributions():
            name = dist.metadata["Name"]
            if name:
                dists.setdefault(normalise(name), dist)
        return cls(dists)

    def version(self, name: str) -> str:
        return self.dists[name].version

    def closure(self, roots: Iterable[tuple[Requirement, str]]) -> dict[str, str]:
        """Installed distributions reachable from ``roots``: {name: why} (the first reason found)."""
        reached: dict[str, str] = {}
        extras_done: dict[str, set[str]] = {}
        queue = [(req, why) for req, why in roots if _marker_applies(req.marker, ())]
        while queue:
            req, why = queue.pop(0)
            name = normalise(req.name)
            dist = self.dists.get(name)
            if dist is None:
                continue
            wanted = {normalise(extra) for extra in req.extras}
            done = extras_done.get(name)
            if done is not None and wanted <= done:
                continue
            reached.setdefault(name, why)
            extras_done[name] = (done or set()) | wanted
            for text in dist.requires or []:
                try:
                    child = Requirement(text)
                except InvalidRequirement:
                    continue  # a broken installed metadata line is not the requirements file's fault
                if _marker_applies(child.marker, wanted):
                    queue.append((child, f"required by {dist.metadata['Name']}"))
        return reached


@dataclass(frozen=True)
class Finding:
    name: str
    version: str
    reason: str


def find_dev_only(runtime_file: Path, dev_file: Path, installed: Installed | None = None) -> list[Finding]:
    """Installed packages that only the development requirements need, sorted by name."""
    installed = installed if installed is not None else Installed.scan()
    runtime = parse_requirements(runtime_file)
    dev = parse_requirements(dev_file)
    runtime_closure = installed.closure((item.requirement, f"listed in {item.where}") for item in runtime)
    dev_closure = installed.closure((item.requirement, f"listed in {item.where}") for item in dev)
    return [
        Finding(name=name, version=installed.version(name), reason=why)
        for name, why in sorted(dev_closure.items())
        if name not in runtime_closure
    ]


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requirements", type=Path, default=DEFAULT_RUNTIME, help="runtime requirements file")
    parser.add_argument("--dev-requirements", type=Path, default=DEFAULT_DEV, help="development requirements file")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        findings = find_dev_only(args.requirements, args.dev_requirements)
    except RequirementsError as exc:
        if args.format == "json":
            print(json.dumps({"status": "error", "error": str(exc), "packages": []}))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_FILE
    if args.format == "json":
        payload: dict[str, Any] = {
            "status": "dev-only packages installed" if findings else "ok",
            "python": sys.executable,
            "packages": [{"name": f.name, "version": f.version, "reason": f.reason} for f in findings],
        }
        print(json.dumps(payload, indent=2))
    else:
        for finding in findings:
            print(finding.name)
        if findings:
            print(
                f"{len(findings)} development-only package(s) installed in {sys.prefix}; "
                "remove them with scripts/repair-dev-deps.sh (or .ps1)",
                file=sys.stderr,
            )
    return EXIT_FOUND if findings else EXIT_OK


if __name__ == "__main__":
    # Run by an interpreter outside any virtual environment (a fresh shell's python3) with the
    # project's .venv present, the check inspects .venv, as scripts/repair-dev-deps.sh does.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    try:
        from scripts.project_env import enter
    except ImportError:  # the script copied on its own (a hook elsewhere): check where it runs
        pass
    else:
        enter(__file__, needs_requirements=False)
    sys.exit(main())
