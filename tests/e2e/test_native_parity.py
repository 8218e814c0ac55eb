"""Parity with the runtimes' own Sentry SDKs (issue 24): an error event our exporter makes from an
OpenTelemetry exception decides the same Sentry issue, and looks the same, as the event the
runtime's Sentry SDK sends for the same exception.

Each reference client is ONE process running the runtime's Sentry SDK (sending to the stand-in's
`reference` project by its DSN) beside the OpenTelemetry SDK (sending OTLP to the collector, which
routes it to the `shop` project), and raises each case's exception once, seen by both SDKs:
reference_python.py (sentry-python), node_reference/ (@sentry/node) and java_reference/ (sentry-java
with sentry-logback beside the OpenTelemetry Java SDK and its logback appender: a Maven project
built here once and cached in tests/.work/java_reference). Every case's message
carries a marker unique to it, which pairs our event with the SDK's. For each pair, `parity`
reads what decides the issue (title type and module, value, the chain's types and those Sentry's
grouping keeps, handled, level, logger, message, the in-app frames with function, module, file,
line and source line) and the
test asserts there is no difference but those the language's `ALLOWED_*` names with the reason it
cannot be avoided (OpenTelemetry does not carry the fact; docs/design.md says why). A case where
the SDK makes no issue (a warning with an exception) must make none here either, and its log
record still arrives as a Sentry log.

The stand-in records each event whole and checks it as Relay's processing does: `event_drops`
and `event_notes` must stay empty in both projects."""

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, run, run_node_client, wait_until
from parity import compare, decisive, differences, explain, is_allowed

HERE = Path(__file__).parent
PYTHON_REFERENCE = HERE / "reference_python.py"
NODE_REFERENCE = HERE / "node_reference"
JAVA_REFERENCE = HERE / "java_reference"
# The Java client's build directory (out of the source tree; tests/.work is ignored by git).
JAVA_BUILD = ROOT / "tests" / ".work" / "java_reference"
JAVA_BUILT_STAMP = JAVA_BUILD / "built-from"
OURS, THEIRS = "shop", "reference"
# The Java app's package: sentry-java's in-app include (as its Spring Boot auto-configuration
# sets it), and ours.
JAVA_APP_PACKAGE = "shop"

# Differences that cannot be avoided, per language: {case or "*" for every case: {key: why}}
# (keys as parity.py names them). Each is a fact OpenTelemetry does not carry, read from the
# OpenTelemetry SDK's and the Sentry SDK's source.
ALLOWED_PYTHON = {
    "*": {
        "frames.module": (
            "sentry-python takes a frame's module from the frame's globals (`__name__`, here "
            "`__main__`); OTel Python's exception.stacktrace is traceback.format_exception text, "
            "which names the file and never the module, and a file's module depends on sys.path, "
            "which the collector does not see. NB: Sentry's frame grouping prefers a frame's "
            "module to its filename, so while ours has none the two events do not share a "
            "grouping hash even where everything else here is equal"),
    },
}
ALLOWED_NODE = {
    "*": {
        "frames.context_line": (
            "@sentry/node's ContextLines integration reads each frame's line from the file on "
            "disk; OTel JS's exception.stacktrace is the error's `stack`, which holds no source "
            "line, and the collector cannot read the service's files"),
    },
    "caught": {
        "chain": (
            "OTel JS's Span.recordException writes only the code or name, the message and the "
            "`stack`; `error.cause` is not recorded (Node's `stack` does not print it), so the "
            "cause @sentry/node's LinkedErrors integration sends is unknown to the collector"),
        "grouped": "the same missing cause (see `chain`)",
    },
    "escaped": {
        "handled": (
            "whether a rejection is handled is known only to the process (Node's "
            "'unhandledRejection' event, which @sentry/node listens to); OTel JS writes no "
            "exception.escaped, and Node's server instrumentations record no exception on their "
            "spans, so one recorded on a server span was recorded by code that caught it (here "
            "the reference's own handler, which rethrows): errors/capture.rs takes it as caught"),
    },
}

# None for Java: every fact
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
ALLOWED_JAVA: dict[str, dict[str, str]] = {}


def allowed_for(allowed, case):
    return {**allowed.get("*", {}), **allowed.get(case, {})}


def sentry_config(standin, in_app_include=()):
    return {
        "url": standin.api,
        "org_slug": standin.org,
        "auth_token": standin.token,
        "errors": {"enabled": True, "from_logs": True, "in_app_include": list(in_app_include)},
        "sending_queue": {"enabled": True},
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms", "max_interval": "1s"},
    }


def reference_dsn(standin):
    key = next(k for k in standin.project_keys(THEIRS) if k["isActive"])
    return key["dsn"]["public"]


def python_reference(collector, dsn, service):
    out = run([sys.executable, PYTHON_REFERENCE, "--endpoint", collector.http_endpoint, "--dsn", dsn,
               "--service", service])
    return json.loads(out.strip().splitlines()[-1])


def node_reference(collector, dsn, service):
    return run_node_client(NODE_REFERENCE, "--endpoint", collector.http_endpoint, "--dsn", dsn,
                           "--service", service)


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
    if not JAVA_BUILT_STAMP.exists() or JAVA_BUILT_STAMP.read_text() != digest:
        # lib/ is filled by copy-dependencies, which never removes a jar a change left over.
        shutil.rmtree(JAVA_BUILD, ignore_errors=True)
        started = time.monotonic()
        run([mvn, "-q", "-B", "-f", JAVA_REFERENCE / "pom.xml", "package"], timeout=600)
        print(f"built the Java reference client in {time.monotonic() - started:.1f}s")
        JAVA_BUILT_STAMP.write_text(digest)
    classpath = os.pathsep.join([str(JAVA_BUILD / "java-reference.jar"), str(JAVA_BUILD / "lib" / "*")])
    return [java, "-cp", classpath, "shop.Main"]


def java_reference(collector, dsn, service):
    out = run([*java_reference_command(), "--endpoint", collector.http_endpoint, "--dsn", dsn,
               "--service", service])
    return json.loads(out.strip().splitlines()[-1])


def with_marker(events, marker):
    """The events whose exception values or message carry the marker (not their frames: an SDK
    that sends local variables has every case's marker in some frame of `main`)."""
    def text(event):
        values = (event.get("exception") or {}).get("values") or []
        return json.dumps([[v.get("type"), v.get("value")] for v in values]
                          + [event.get("logentry"), event.get("message")])
    return [e for e in events if marker in text(e)]


def collect(standin, cases):
    """Waits until both projects hold an event for every case that makes an issue (and our
    project the log records of those that do not), then a moment for late or extra events.
    Returns the records of both projects."""
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


def keep(tmp_path, records):
    """Writes both projects' events whole beside the test's other files, for a look at what
    `decisive` leaves out."""
    path = tmp_path / "events.json"
    path.write_text(json.dumps({p: records[p]["events"] for p in (OURS, THEIRS)}, indent=1))
    print(f"the events of both projects: {path}")


def check_parity(records, cases, allowed_by_case, language):
    """Pairs the events by marker and compares them; returns the failures (and prints every
    difference, allowed or not, for the report)."""
    failures = []
    for case, allowed in allowed_by_case.items():
        print(f"=== {language} {case}: allowed differences ===\n{explain(allowed)}")
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
                failures.append(f"{language} {name}: the SDK made {len(theirs)} event(s) where none was expected")
            if ours:
                failures.append(f"{language} {name}: ours made {len(ours)} event(s) where the SDK makes none: "
                                f"{[decisive(e) for e in ours]}")
            if case["marker"] not in records[OURS]["logs"]:
                failures.append(f"{language} {name}: the log record did not arrive as a Sentry log")
            continue
        if len(ours) != 1 or len(theirs) != 1:
            failures.append(f"{language} {name}: {len(ours)} event(s) of ours, {len(theirs)} of the SDK's")
            if not ours or not theirs:
                continue
        allowed = allowed_for(allowed_by_case, name)
        a, b = decisive(ours[0]), decisive(theirs[0])
        print(f"--- {language} {name}: ours ---\n{json.dumps(a, indent=1)}\n"
              f"--- {language} {name}: the SDK's ---\n{json.dumps(b, indent=1)}")
        for key, x, y in differences(a, b):
            print(f"  {'(allowed) ' if is_allowed(key, allowed) else ''}{key}: "
                  f"ours={json.dumps(x)} theirs={json.dumps(y)}")
        failures += [f"{language} {name}: {line}" for line in compare(a, b, allowed)]
    return failures


# Per language: its reference client, the errors.in_app_include a service of it would set, and
# the differences allowed.
REFERENCES = {
    "python": (python_reference, (), ALLOWED_PYTHON),
    "node": (node_reference, (), ALLOWED_NODE),
    "java": (java_reference, (JAVA_APP_PACKAGE,), ALLOWED_JAVA),
}


@pytest.mark.parametrize("language", REFERENCES)
def test_events_match_the_runtimes_sentry_sdk(language, start_standin, start_collector, tmp_path):
    reference, in_app_include, allowed = REFERENCES[language]
    standin = start_standin("--projects", f"{OURS},{THEIRS}")
    collector = start_collector(sentry_config(standin, in_app_include))
    sent = reference(collector, reference_dsn(standin), OURS)
    print(f"{language}: {sent['sdk']}")
    records = collect(standin, sent["cases"])
    keep(tmp_path, records)
    failures = check_parity(records, sent["cases"], allowed, language)
    assert failures == [], "\n".join(failures)
