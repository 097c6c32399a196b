"""Generate the reference files from the code, so they cannot drift from it.

    python -m scripts.gen_reference            rewrite the files
    python -m scripts.gen_reference --check    exit 1 (and name them) when a file is out of date

Generated:
- docs/configuration.md   every setting of config.settings.SECTIONS: default, accepted values, meaning
- backend/.env.example    every setting with its default and a one-line comment (local SQLite)
- docs/metrics.md         every metric of backend.observability.metrics.Metrics: type, labels, series
- docs/admin_token_usage.md, the block between its GENERATED markers: the admin routes of the app

Run it after adding a setting, a metric or a route; the tests fail until the files are regenerated.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, SecretStr, TypeAdapter
from pydantic.fields import FieldInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION_MD = REPO_ROOT / "docs" / "configuration.md"
METRICS_MD = REPO_ROOT / "docs" / "metrics.md"
ENV_EXAMPLE = REPO_ROOT / "backend" / ".env.example"
ADMIN_MD = REPO_ROOT / "docs" / "admin_token_usage.md"
BEGIN_ROUTES = "<!-- BEGIN GENERATED: admin routes (python -m scripts.gen_reference) -->"
END_ROUTES = "<!-- END GENERATED: admin routes -->"
GENERATOR = "python -m scripts.gen_reference"

# Sample suffixes prometheus-client exposes for each metric type.
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "enum": ("",),
}


# ---------------------------------------------------------------------------------------------
# settings
@dataclass(frozen=True)
class SettingDoc:
    env: str
    section: str
    module: str
    default: str
    unset: bool  # no default value (None / empty secret)
    accepted: str
    tunable: bool
    secret: bool
    description: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return TypeAdapter(Any).dump_python(value, mode="json")


def render_value(value: Any) -> str:
    """A default as it would be written in the environment."""
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):
        return ",".join(render_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps({k: _jsonable(v) for k, v in value.items()}, sort_keys=True)
    return str(value)


def _enum_of(annotation: Any) -> type[Enum] | None:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation
    for arg in get_args(annotation):
        found = _enum_of(arg)
        if found is not None:
            return found
    return None


def _kind(annotation: Any) -> str:
    text = repr(annotation)
    for needle, kind in (
        ("SecretStr", "secret"),
        ("bool", "boolean"),
        ("Decimal", "decimal"),
        ("float", "number"),
        ("int", "integer"),
        ("Path", "path"),
        ("list[", "comma-separated list"),
        ("dict[", "JSON object"),
    ):
        if needle in text:
            return kind
    return "text"


def accepted_values(info: FieldInfo) -> str:
    enum = _enum_of(info.annotation)
    if enum is not None:
        return " | ".join(f"`{member.value}`" for member in enum)
    kind = _kind(info.annotation)
    if kind == "boolean":
        return "`1`/`0` (`true`/`false`)"
    bounds = []
    for item in info.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >=")):
            bound = getattr(item, attr, None)
            if bound is not None:
                bounds.append(f"{symbol} {render_value(bound)}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            bounds.append(f"matches `{pattern}`")
    text = kind + (" " + ", ".join(bounds) if bounds else "")
    if "None" in repr(info.annotation) and kind not in ("secret",):
        text += "; empty = unset"
    return text


def setting_docs() -> list[SettingDoc]:
    from config.settings import SECTIONS, field_refs

    refs = field_refs()
    docs = []
    for section_name, section in SECTIONS.items():
        module = section.__module__.replace(".", "/") + ".py"
        for field_name, info in section.model_fields.items():
            env = info.alias or field_name
            ref = refs[env]
            default = info.get_default(call_default_factory=True)
            rendered = "" if ref.secret else render_value(default)
            docs.append(
                SettingDoc(
                    env=env,
                    section=section_name,
                    module=module,
                    default=rendered,
                    unset=rendered == "",
                    accepted=accepted_values(info),
                    tunable=ref.tunable,
                    secret=ref.secret,
                    description=ref.description,
                )
            )
    return docs


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def configuration_md() -> str:
    lines = [
        "# Configuration reference",
        "",
        f"<!-- Generated by `{GENERATOR}` from config/; do not edit by hand. -->",
        "",
        "Every setting is an environment variable (exact name below), read at start-up from the",
        "process environment and from `backend/.env` (the environment wins). `backend/.env.example`",
        "lists all of them with their defaults; copy it to `backend/.env` to start. An invalid value",
        "stops start-up with one line naming the variable, the value and what is accepted (a line of",
        "`backend/.env` that is not `NAME=value`: the file and line number). `python -m backend --check`",
        "checks everything start-up would without starting: the settings, `backend/.env`, that the port",
        "is free, the replay files, and that the database is at the migrations' head; exit 0 or 2.",
        "An empty value means unset (the default applies).",
        "",
        "Settings marked *tunable* may also be changed while the service runs with `PUT /settings`",
        "(admin token; validated exactly like the environment, persisted in the `runtime_settings`",
        "table, audited, applied without restart). `GET /settings` shows every effective value and its",
        "source (`default`, `env`, `override`), secrets redacted.",
        "",
        "## Precedence",
        "",
        "Highest first; the first that sets a value wins:",
        "",
        "1. a run-time override (`PUT /settings`, stored in the `runtime_settings` table): it survives",
        "   restarts and beats the environment until it is removed;",
        "2. the process environment;",
        "3. `backend/.env`;",
        "4. the default below.",
        "",
        "At start-up every override that hides a value set by the environment is logged as a warning",
        "(`run-time setting NAME='750' (set by PUT /settings) overrides the environment's '900'; ...`).",
        "`GET /settings` shows both: `value`/`source` (what applies) and `environment_value`/",
        "`environment_source` (what applies without the override). `DELETE /settings/{name}` (admin,",
        "audited) removes the override, so the environment's value (or the default) applies again at",
        "once, on every replica, and after restarts.",
        "",
        "Relative paths resolve from the `backend/` directory (a leading `backend/` names the same",
        "directory). `QT_ENV=staging|production` refuses an admin token shorter than 32 characters and",
        "live Binance trading without `QT_EXECUTION_LIVE_CONFIRM=1`.",
    ]
    current = None
    for doc in setting_docs():
        if doc.section != current:
            current = doc.section
            lines += [
                "",
                f"## {doc.section} (`{doc.module}`)",
                "",
                "| Variable | Default | Accepted | Tunable | Meaning |",
                "|---|---|---|---|---|",
            ]
        default = "*(secret, unset)*" if doc.secret else (f"`{_cell(doc.default)}`" if not doc.unset else "*(unset)*")
        lines.append(
            f"| `{doc.env}` | {default} | {_cell(doc.accepted)} | {'yes' if doc.tunable else ''} "
            f"| {_cell(doc.description)} |"
        )
    return "\n".join(lines) + "\n"


def _env_value(value: str) -> str:
    if value == "" or all(ch not in value for ch in " #'\"{}\\$"):
        return value
    return "'" + value + "'"


def env_example() -> str:
    lines = [
        "# Quantum Trader: example environment. Copy to backend/.env and adjust; backend/.env is not committed.",
        f"# Generated by `{GENERATOR}` from config/ (docs/configuration.md explains each); do not edit by hand.",
        "# Every variable is listed with its default. An empty value means unset (the default applies).",
        "# The database defaults to the local SQLite file backend/quantum_trader.db: no server, user or",
        "# password is needed. For PostgreSQL set DATABASE_URL=postgresql+psycopg://user@host:5432/db",
        "# (and DB_USER / DB_PASS when the URL names no credentials).",
    ]
    current = None
    for doc in setting_docs():
        if doc.section != current:
            current = doc.section
            lines += ["", f"# --- {doc.section} ({doc.module}) ---"]
        comment = doc.description.replace("\n", " ")
        if doc.tunable:
            comment += " [tunable at run time]"
        if doc.secret:
            comment += " [secret: keep it out of git]"
        lines.append(f"# {comment}")
        lines.append(f"{doc.env}={_env_value(doc.default)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# metrics
@dataclass(frozen=True)
class MetricDoc:
    name: str
    kind: str
    labels: tuple[str, ...]
    description: str
    buckets: tuple[float, ...] = ()

    @property
    def series(self) -> tuple[str, ...]:
        return tuple(self.name + suffix for suffix in SERIES_SUFFIXES.get(self.kind, ("",)))


def metric_docs() -> list[MetricDoc]:
    """Every metric a Metrics() registers (read from the collectors, so labelled ones count too).

    prometheus-client has no public accessor for a metric's label names (a labelled metric with no
    children yet exposes no samples), so the wrappers' own attributes are read.
    """
    from prometheus_client.metrics import MetricWrapperBase

    from backend.observability.metrics import Metrics

    metrics = Metrics()
    docs: dict[str, MetricDoc] = {}
    collectors = set(getattr(metrics.registry, "_collector_to_names", {}))
    collectors |= {value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)}
    for collector in collectors:
        if not isinstance(collector, MetricWrapperBase):
            continue
        name = str(getattr(collector, "_name", ""))
        kind = str(getattr(collector, "_type", "untyped"))
        buckets = tuple(b for b in getattr(collector, "_upper_bounds", ()) if b != float("inf"))
        docs[name] = MetricDoc(
            name=name,
            kind=kind,
            labels=tuple(getattr(collector, "_labelnames", ())),
            description=str(getattr(collector, "_documentation", "")),
            buckets=buckets if kind == "histogram" else (),
        )
    return [docs[name] for name in sorted(docs)]


def exposed_series() -> set[str]:
    """Every sample name /metrics can expose (what dashboards and alerts may query)."""
    return {series for doc in metric_docs() for series in doc.series}


def metrics_md() -> str:
    lines = [
        "# Metrics reference",
        "",
        f"<!-- Generated by `{GENERATOR}` from backend/observability/metrics.py; do not edit by hand. -->",
        "",
        "`GET /metrics` serves these in the Prometheus text format (no token: restrict it at the network",
        "layer). Every metric is defined once in `backend/observability/metrics.py`; labels are bounded",
        "(route templates, job ids, rule names, never raw paths). Counters expose `<name>_total`,",
        "histograms `<name>_bucket`, `<name>_sum` and `<name>_count` (plus `_created` timestamps unless",
        "`PROMETHEUS_DISABLE_CREATED_SERIES=True`). With `PROMETHEUS_MULTIPROC_DIR` set, values are",
        "aggregated across worker processes. Dashboards and alerts using them:",
        "`docs/monitoring/grafana-dashboard.json`, `docs/monitoring/alerts.yml` (see docs/monitoring.md).",
        "",
        "| Metric | Type | Labels | Series | Meaning |",
        "|---|---|---|---|---|",
    ]
    for doc in metric_docs():
        labels = ", ".join(f"`{label}`" for label in doc.labels) or ""
        series = ", ".join(f"`{s}`" for s in doc.series if not s.endswith("_created"))
        lines.append(f"| `{doc.name}` | {doc.kind} | {labels} | {series} | {_cell(doc.description)} |")
    with_buckets = [doc for doc in metric_docs() if doc.buckets]
    if with_buckets:
        lines += ["", "## Histogram buckets (seconds)", ""]
        lines += [f"- `{doc.name}`: {', '.join(f'{b:g}' for b in doc.buckets)}" for doc in with_buckets]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# routes
def _dependency_calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for sub in getattr(dependant, "dependencies", []):
        if sub.call is not None:
            yield sub.call
        yield from _dependency_calls(sub)


def route_depends_on(route: Any, func: Callable[..., Any]) -> bool:
    """Whether ``func`` is anywhere among the route's (nested) dependencies."""
    return any(call is func for call in _dependency_calls(route.dependant))


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    admin: bool
    writable: bool  # refused with 503 in read-only mode


def build_app() -> Any:
    """The real application (routes only: the lifespan is not started, nothing is connected)."""
    from backend.main import create_app
    from config.settings import load_settings

    return create_app(load_settings({"scheduler": {"QUANTUM_TRADER_DISABLE_SCHEDULER": True}}, env_file=False))


def route_docs(app: Any | None = None) -> list[RouteDoc]:
    from backend.api.routes import iter_api_routes
    from backend.api.security import require_admin, require_writable

    app = app if app is not None else build_app()
    docs = []
    for route in iter_api_routes(app.routes):
        summary = route.summary or ""
        if not summary and route.description:
            summary = route.description.strip().splitlines()[0]
        for method in sorted(route.methods or ()):
            docs.append(
                RouteDoc(
                    method=method,
                    path=route.path,
                    summary=summary or route.name,
                    admin=route_depends_on(route, require_admin),
                    writable=route_depends_on(route, require_writable),
                )
            )
    return sorted(docs, key=lambda d: (d.path, d.method))


def admin_routes_table(app: Any | None = None) -> str:
    lines = [
        "| Method | Path | What it does | Read-only mode |",
        "|---|---|---|---|",
    ]
    for doc in route_docs(app):
        if doc.admin:
            mode = "503 (mutation refused)" if doc.writable else "served"
            lines.append(f"| `{doc.method}` | `{doc.path}` | {_cell(doc.summary)} | {mode} |")
    return "\n".join(lines)


def admin_md(current: str, app: Any | None = None) -> str:
    """The admin doc with its generated block replaced."""
    start, end = current.find(BEGIN_ROUTES), current.find(END_ROUTES)
    if start < 0 or end < start:
        raise SystemExit(f"{ADMIN_MD}: markers {BEGIN_ROUTES!r} ... {END_ROUTES!r} not found")
    return current[: start + len(BEGIN_ROUTES)] + "\n" + admin_routes_table(app) + "\n" + current[end:]


# ---------------------------------------------------------------------------------------------
def generated_files() -> dict[Path, str]:
    files = {
        CONFIGURATION_MD: configuration_md(),
        ENV_EXAMPLE: env_example(),
        METRICS_MD: metrics_md(),
    }
    if ADMIN_MD.is_file():
        files[ADMIN_MD] = admin_md(ADMIN_MD.read_text(encoding="utf-8"))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate configuration/metrics/admin references from the code.")
    parser.add_argument("--check", action="store_true", help="only report files that are out of date (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated_files().items():
        existing = path.read_text(encoding="utf-8") if path.is_file() else None
        if existing == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "out of date" if args.check else "written"
        print(f"{path.relative_to(REPO_ROOT)}: {verb}")
    if args.check and stale:
        print(f"run `{GENERATOR}` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
