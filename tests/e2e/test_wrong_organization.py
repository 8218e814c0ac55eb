"""A mistyped organization or a URL into Sentry's API makes every lookup answer 404. That is
not "every project is missing": the status names the organization, the data waits in the
queue instead of being dropped, and the collector counts nothing as sent. A URL with a query,
fragment or API path is refused at load, as is a token no HTTP header can carry."""


import pytest

from conftest import collector_config, free_port, listen_on, scrape, validate, value, wait_until
from test_hostile import post_traces, resource_spans, sentry
from test_status import sentry_status


def test_a_mistyped_organization_keeps_the_data_and_says_so(start_standin, start_collector):
    standin = start_standin("--projects", "frontend")
    collector = start_collector(sentry(standin, org_slug="acne"), status_v2=True)
    post_traces(collector, resource_spans("frontend", 4))
    wait_until("a recoverable error", lambda: sentry_status(collector) == "StatusRecoverableError", timeout=30)
    document = str(collector.status())
    assert 'organization "acne" not found' in document, document
    wait_until("the spans to be handed back for retry",
               lambda: value(scrape(collector.metrics_url), "items_failed", signal="traces") >= 4, timeout=30)
    metrics = scrape(collector.metrics_url)
    assert value(metrics, "items_dropped") == 0
    assert value(metrics, "otelcol_exporter_sent_spans") == 0
    assert not standin.records()["projects"]["frontend"]["spans"]


@pytest.mark.parametrize("url, token, problem", [
    ("{api}/?x=1", "token", "url: \"http://127.0.0.1:9/?x=1\" has a query or fragment"),
    ("{api}/api/0/organizations/acme/projects/", "token", "points into Sentry's API"),
    # A token read from a secret file with its trailing newline.
    ("{api}", "sntrys_abc\n", "auth_token: holds '\\n' at position 10"),
])
def test_a_config_that_cannot_work_is_refused_at_load(tmp_path, url, token, problem):
    config = listen_on(collector_config({"url": url.format(api="http://127.0.0.1:9"), "org_slug": "acme",
                                         "auth_token": token}), *[free_port() for _ in range(4)])
    result = validate(config, tmp_path)
    assert result.returncode != 0
    assert problem in result.stdout + result.stderr, result.stderr
