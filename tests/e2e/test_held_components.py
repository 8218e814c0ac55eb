"""The examples of the components builder-config.yaml takes at another version than the
release's (the Go module proxy does not serve theirs) run, not only load:

- examples/log-files.yaml (file_log, with pkg/stanza v0.160.0): every line written to a log
  file after the collector saw it reaches Sentry once, JSON lines and plain ones, also across a
  restart (offsets in file_storage);
- examples/relay.yaml (basicauth, with extension/internal/basicauth v0.158.0; headers_setter
  v0.158.0) in front of examples/bearer-auth.yaml: a client with a user of the htpasswd file
  delivers through the relay, whose headers_setter gives the gateway its bearer token; a client
  with a wrong password delivers nothing."""

import base64
import hashlib
import subprocess
import time

from conftest import assert_exactly_once, example_config, run, wait_until

SERVICE = "billing"
TOKEN = "relay-to-gateway-7c1e"
TRACES = 10  # telemetrygen traces; each has one root and CHILD_SPANS children
CHILD_SPANS = 2
SPANS = TRACES * (1 + CHILD_SPANS)
LOGS = 15


def sentry_to(config, standin):
    config["exporters"]["sentry"].update(url=standin.api, org_slug=standin.org, auth_token=standin.token)
    return config


def write_lines(path, first, count):
    """`count` lines numbered from `first`: two JSON lines out of three, the others plain text."""
    with path.open("a") as out:
        for n in range(first, first + count):
            out.write(f'{{"level": "warn", "msg": "charge {n} retried", "attempt": {n}}}\n' if n % 3
                      else f"charge {n} settled\n")


def test_log_files_reach_sentry_once_across_a_restart(tmp_path, start_standin, launch_collector):
    standin = start_standin("--projects", SERVICE)
    config = sentry_to(example_config("log-files.yaml"), standin)
    # The harness points an OTLP receiver at free ports; no pipeline uses it.
    config["receivers"]["otlp"] = {"protocols": {"grpc": {}, "http": {}}}
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {"OTELCOL_LOG_FILES": str(logs / "*.log"), "OTELCOL_LOG_SERVICE": SERVICE,
           "OTELCOL_STORAGE_DIR": str(tmp_path / "storage")}
    # What the file holds when the collector first sees it stays behind (start_at: end).
    (logs / "app.log").write_text("written before the collector started\n")
    first = launch_collector(config, env=env)
    wait_until("the collector to watch the file", lambda: "Started watching file" in first.process.output(),
               timeout=10)
    write_lines(logs / "app.log", 0, LOGS)
    assert_exactly_once(standin, {SERVICE: (SERVICE, 0, LOGS)})

    assert first.process.stop() == 0
    write_lines(logs / "app.log", LOGS, LOGS)
    launch_collector(config, env=env)
    assert_exactly_once(standin, {SERVICE: (SERVICE, 0, 2 * LOGS)})


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def send(telemetrygen, relay, service, authorization, check=True):
    header = ["--otlp-header", f'Authorization="{authorization}"']
    common = ["--otlp-insecure", "--otlp-endpoint", relay.grpc_endpoint, "--service", service, "--rate", 1000,
              *header]
    if check:
        run([telemetrygen, "traces", *common, "--traces", TRACES, "--child-spans", CHILD_SPANS])
        run([telemetrygen, "logs", *common, "--logs", LOGS])
        return ""
    # telemetrygen's exit code does not tell a refused export: its output does.
    args = [str(telemetrygen), "traces", *map(str, common), "--traces", str(TRACES)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return result.stdout + result.stderr


def test_a_relay_with_basic_auth_delivers_through_the_gateway(tmp_path, start_standin, launch_collector,
                                                             telemetrygen):
    standin = start_standin("--projects", "checkout,payments")
    gateway = launch_collector(sentry_to(example_config("bearer-auth.yaml"), standin),
                               env={"OTELCOL_BEARER_TOKEN": TOKEN})
    htpasswd = tmp_path / "htpasswd"
    digest = base64.b64encode(hashlib.sha1(b"s3cret-team-a").digest()).decode()
    htpasswd.write_text(f"team-a:{{SHA}}{digest}\n")
    config = example_config("relay.yaml")
    # The gateway listens on loopback without TLS.
    config["exporters"]["otlp_grpc"]["tls"] = {"insecure": True}
    relay = launch_collector(config, env={"OTELCOL_GATEWAY": gateway.grpc_endpoint, "OTELCOL_BEARER_TOKEN": TOKEN,
                                          "OTELCOL_HTPASSWD_FILE": str(htpasswd)})

    out = send(telemetrygen, relay, "payments", basic("team-a", "not-the-password"), check=False)
    assert "Unauthenticated" in out, out[-2000:]
    send(telemetrygen, relay, "checkout", basic("team-a", "s3cret-team-a"))
    assert_exactly_once(standin, {"checkout": ("checkout", SPANS, LOGS)})
    time.sleep(1)
    payments = standin.records()["projects"]["payments"]
    assert not payments["spans"] and not payments["requests"], payments
