"""Parity with sentry-java (issue 24): an error event our exporter makes from an OpenTelemetry
exception of a Java service decides the same Sentry issue, and looks the same, as the event
sentry-java sends for the same exception.

The reference client (java_reference/, a Maven project built here once and cached in
tests/.work/java_reference) is ONE JVM running sentry-java 8.47 with sentry-logback (sending to
the stand-in's `reference` project by its DSN, in-app includes set to the app's package `shop`,
as sentry-java's Spring Boot auto-configuration sets them) beside the OpenTelemetry Java SDK with
its logback appender (traces and logs over OTLP/HTTP to the collector, which routes them to the
`shop` project). Each case raises one Throwable that both SDKs see:

- `caught`: shop.PaymentDeclinedException caused by an IOException, thrown a few calls deep (one
  of them a third-party frame, OpenTelemetry's Context.wrap), caught, recorded on its span with
  status ERROR and captured with `Sentry.captureException`;
- `logged`: an IllegalStateException caused by a SocketTimeoutException, logged at ERROR through
  slf4j/logback (`log.error("could not reserve {}", sku, e)`): sentry-logback's appender and
  OpenTelemetry's logback appender (opentelemetry-logback-appender-1.0) see the same event;
- `escaped`: an UnsupportedOperationException escaping a SERVER span on its own thread; the span
  records it and ends with status ERROR as it propagates, and sentry-java's
  UncaughtExceptionHandlerIntegration captures it (handled false, level fatal);
- `warning`: a WARN log with an exception: below sentry-logback's minimumEventLevel (ERROR), so
  no issue; ours must make none either, and the record still arrives as a Sentry log.

Every case's exception message carries a marker unique to the case and the run, which pairs our
event with sentry-java's. For each pair, `parity` reads what decides the issue and the test
asserts there is no difference but those `ALLOWED_JAVA` names with the reason it cannot be
avoided. The stand-in records each event whole and checks it as Relay's processing does:
`event_drops` and `event_notes` must stay empty in both projects."""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import ROOT, run, wait_until
from parity import compare, decisive, differences, explain, is_allowed

HERE = Path(__file__).parent
JAVA_REFERENCE = HERE / "java_reference"
# The pom's build directory (out of the source tree; tests/.work is ignored by git).
BUILD = ROOT / "tests" / ".work" / "java_reference"
BUILT_STAMP = BUILD / "built-from"
OURS, THEIRS = "shop", "reference"
# The app's package: sentry-java's in-app include, and ours.
APP_PACKAGE = "shop"

# Differences that cannot be avoided: key (see parity.py) -> why. None for Java: every fact
# sentry-java's event is built from is in the OpenTelemetry data or our configuration.
# - type and module: sentry-java splits Class.getName() at the package (SentryExceptionFactory:
#   type = the name less `package.`, module = the package); exception.type is Class.getName(),
#   and a nested class's name keeps its `$`, so the split at the last dot is the same.
# - chain and every cause's frames: `... N more` in exception.stacktrace names the frames each
#   cause shares with the exception it caused (Throwable.printStackTrace), so they can be
#   restored; sentry-java sends Throwable.getStackTrace() whole (SentryStackTraceFactory).
# - handled and level: sentry-java leaves handled unset and the level at error for
#   Sentry.captureException and for sentry-logback (mechanism LogbackSentryAppender); an
#   exception nothing caught is handled false and level fatal, both from
#   UncaughtExceptionHandlerIntegration and from Spring's SentryExceptionResolver (an exception
#   escaping a controller). OpenTelemetry shows the latter as an exception event on a SERVER span
#   that ended with status ERROR.
# - logger and message: the logback appender's scope name is the logger's name, and its body the
#   formatted message (sentry-logback: `logger`, `message.formatted`).
# - in-app frames: sentry-java marks in_app true for the in-app includes' packages and leaves the
#   rest unset (SentryStackTraceFactory.isInApp); `errors.in_app_include` gives us the same.
ALLOWED_JAVA: dict[str, str] = {}


def sentry_config(standin):
    return {
        "url": standin.api,
        "org_slug": standin.org,
        "auth_token": standin.token,
        "errors": {"enabled": True, "from_logs": True, "in_app_include": [APP_PACKAGE]},
        "sending_queue": {"enabled": True},
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms", "max_interval": "1s"},
    }


def reference_dsn(standin):
    key = next(k for k in standin.project_keys(THEIRS) if k["isActive"])
    return key["dsn"]["public"]


def sources_digest():
    """The pom's and the sources' content: the cached build is the one of this digest."""
    digest = hashlib.sha256()
    files = [JAVA_REFERENCE / "pom.xml", *sorted(p for p in (JAVA_REFERENCE / "src").rglob("*") if p.is_file())]
    for path in files:
        digest.update(str(path.relative_to(JAVA_REFERENCE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def java_reference_command():
    """Builds the client with Maven unless the cached build is of the current sources; returns
    the command that runs it."""
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if not java or not mvn:
        pytest.fail("java (17 or later) and mvn are needed for the Java reference client")
    digest = sources_digest()
    if not BUILT_STAMP.exists() or BUILT_STAMP.read_text() != digest:
        # lib/ is filled by copy-dependencies, which never removes a jar a change left over.
        shutil.rmtree(BUILD, ignore_errors=True)
        started = time.monotonic()
        run([mvn, "-q", "-B", "-f", JAVA_REFERENCE / "pom.xml", "package"], timeout=600)
        print(f"built the Java reference client in {time.monotonic() - started:.1f}s")
        BUILT_STAMP.write_text(digest)
    classpath = os.pathsep.join([str(BUILD / "java-reference.jar"), str(BUILD / "lib" / "*")])
    return [java, "-cp", classpath, "shop.Main"]


def java_reference(collector, dsn, service):
    out = run([*java_reference_command(), "--endpoint", collector.http_endpoint, "--dsn", dsn,
               "--service", service])
    return json.loads(out.strip().splitlines()[-1])


def with_marker(events, marker):
    """The events whose exception values or message carry the marker."""
    def text(event):
        values = (event.get("exception") or {}).get("values") or []
        return json.dumps([[v.get("type"), v.get("value")] for v in values]
                          + [event.get("logentry"), event.get("message")])
    return [e for e in events if marker in text(e)]


def collect(standin, cases):
    """Waits until both projects hold an event for every case that makes an issue, and our
    project the log records of those that do not (the record's uid is the marker), then a moment
    for late or extra events. Returns the records of both projects."""
    expected = [c["marker"] for c in cases.values() if c["issue"]]
    logs = [c["marker"] for c in cases.values() if not c["issue"]]

    def arrived():
        projects = standin.records()["projects"]
        ours, theirs = projects[OURS], projects[THEIRS]
        return (all(with_marker(ours["events"], m) and with_marker(theirs["events"], m) for m in expected)
                and all(m in ours["logs"] for m in logs))

    try:
        wait_until("every case's event in both projects", arrived, timeout=60)
    finally:
        # Whatever arrived is shown, so that a missing event still tells the rest.
        time.sleep(3)
    return standin.records()["projects"]


def check_parity(records, cases, allowed):
    """Pairs the events by marker and compares them; returns the failures (and prints every
    difference, allowed or not)."""
    failures = []
    print(f"\n=== java: allowed differences ===\n{explain(allowed) or '  (none)'}")
    for project in (OURS, THEIRS):
        if records[project]["event_drops"]:
            failures.append(f"{project}: events relay would drop: {records[project]['event_drops']}")
        if records[project]["event_notes"]:
            failures.append(f"{project}: what relay would change: {records[project]['event_notes']}")
    for name, case in cases.items():
        ours = with_marker(records[OURS]["events"], case["marker"])
        theirs = with_marker(records[THEIRS]["events"], case["marker"])
        if not case["issue"]:
            if theirs:
                failures.append(f"java {name}: sentry-java made {len(theirs)} event(s) where none was expected")
            if ours:
                failures.append(f"java {name}: ours made {len(ours)} event(s) where sentry-java makes none: "
                                f"{[decisive(e) for e in ours]}")
            if case["marker"] not in records[OURS]["logs"]:
                failures.append(f"java {name}: the log record did not arrive as a Sentry log")
            continue
        if len(ours) != 1 or len(theirs) != 1:
            failures.append(f"java {name}: {len(ours)} event(s) of ours, {len(theirs)} of sentry-java's")
            if not ours or not theirs:
                continue
        a, b = decisive(ours[0]), decisive(theirs[0])
        print(f"--- java {name}: ours ---\n{json.dumps(a, indent=1)}\n"
              f"--- java {name}: sentry-java's ---\n{json.dumps(b, indent=1)}")
        for key, x, y in differences(a, b):
            print(f"  {'(allowed) ' if is_allowed(key, allowed) else ''}{key}: "
                  f"ours={json.dumps(x)} theirs={json.dumps(y)}")
        failures += [f"java {name}: {line}" for line in compare(a, b, allowed)]
    return failures


def test_java_events_match_sentry_java(start_standin, start_collector):
    standin = start_standin("--projects", f"{OURS},{THEIRS}")
    collector = start_collector(sentry_config(standin))
    sent = java_reference(collector, reference_dsn(standin), OURS)
    print(f"sentry-java {sent['sdk']}")
    assert set(sent["cases"]) == {"caught", "logged", "escaped", "warning"}, sent
    records = collect(standin, sent["cases"])
    failures = check_parity(records, sent["cases"], ALLOWED_JAVA)
    assert failures == [], "\n".join(failures)
