// Package exporterbench measures one push through our sentry exporter and through the
// collector-contrib sentry exporter, both built from their factories and sending to the
// project's Sentry stand-in on loopback. Run through `make bench`, or alone with
// `go test -run '^$' -bench . -benchtime 200x` after `cargo build --release`.
package exporterbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/sentryexporter"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	ours "github.com/otelcol-sentry/sentryexporter"
)

// standin is the running Sentry stand-in, as announced on its first output line.
type standin struct {
	API   string `json:"api"`
	Org   string `json:"org"`
	Token string `json:"token"`
}

var sentry standin

const (
	pushSpans    = 1000
	pushProjects = 10
	// scaleMaxProjects is the largest batch of BenchmarkProjectsPerBatch.
	scaleMaxProjects = 1000
	// pushTimeout lets the contrib exporter look up 1,000 projects one by one in its first push.
	pushTimeout = 5 * time.Minute
)

func TestMain(m *testing.M) {
	binary := os.Getenv("STANDIN")
	if binary == "" {
		binary = "../../target/release/sentry-standin"
	}
	names := make([]string, 0, pushProjects+scaleMaxProjects)
	for i := range pushProjects {
		names = append(names, fmt.Sprintf("svc-%d", i))
	}
	for i := range scaleMaxProjects {
		names = append(names, fmt.Sprintf("p-%d", i))
	}
	cmd := exec.Command(binary, "--quiet", "--page-size", "100", "--projects", strings.Join(names, ","))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err == nil {
		var line []byte
		line, err = bufio.NewReader(out).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &sentry)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the stand-in %s: %v\n", binary, err)
		os.Exit(2)
	}
	code := m.Run()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	os.Exit(code)
}

// kind names the two exporters under test.
type kind string

const (
	oursKind    kind = "ours"
	contribKind kind = "contrib"
)

// meters holds what the Rust core reports about its own heap (our exporter only): Go's
// B/op and allocs/op cannot see allocations made by Rust.
type meters struct {
	reader *sdkmetric.ManualReader
}

func (m meters) coreAllocations(b *testing.B) (count, bytes int64) {
	if m.reader == nil {
		return 0, 0
	}
	var collected metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &collected); err != nil {
		b.Fatal(err)
	}
	for _, scope := range collected.ScopeMetrics {
		for _, metric := range scope.Metrics {
			sum, ok := metric.Data.(metricdata.Sum[int64])
			if !ok || len(sum.DataPoints) == 0 {
				continue
			}
			switch metric.Name {
			case "otelcol_exporter_sentry_core_allocations":
				count = sum.DataPoints[0].Value
			case "otelcol_exporter_sentry_core_allocated_bytes":
				bytes = sum.DataPoints[0].Value
			}
		}
	}
	return count, bytes
}

// newExporter builds a started traces exporter of either kind, without queue or retry so
// that a push returns when the data was sent; tweak changes the config of ours.
func newExporter(b *testing.B, which kind, tweak func(*ours.Config)) (exporter.Traces, meters) {
	var factory exporter.Factory
	var cfg any
	switch which {
	case oursKind:
		factory = ours.NewFactory()
		c := factory.CreateDefaultConfig().(*ours.Config)
		c.URL, c.OrgSlug, c.AuthToken = sentry.API, sentry.Org, configopaque.String(sentry.Token)
		c.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
		c.RetryConfig.Enabled = false
		c.TimeoutConfig.Timeout = pushTimeout
		tweak(c)
		cfg = c
	case contribKind:
		factory = contrib.NewFactory()
		c := factory.CreateDefaultConfig().(*contrib.Config)
		c.URL, c.OrgSlug, c.AuthToken = sentry.API, sentry.Org, configopaque.String(sentry.Token)
		c.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
		// It drops the port of the DSN's host; its proxy brings the requests back to the stand-in.
		c.ClientConfig.ProxyURL = sentry.API
		c.TimeoutConfig.Timeout = pushTimeout
		cfg = c
	}
	settings := exportertest.NewNopSettings(factory.Type())
	var m meters
	if which == oursKind {
		m.reader = sdkmetric.NewManualReader()
		settings.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(m.reader))
	}
	exp, err := factory.CreateTraces(context.Background(), settings, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := exp.Shutdown(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return exp, m
}

// traces builds a batch of `spans` spans over the given services, four resources per
// service, with the attributes an instrumented HTTP service sends.
func traces(spans int, services []string) ptrace.Traces {
	td := ptrace.NewTraces()
	resources := len(services) * 4
	if resources > spans {
		resources = spans
	}
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for r := range resources {
		rs := td.ResourceSpans().AppendEmpty()
		attrs := rs.Resource().Attributes()
		attrs.PutStr("service.name", services[r%len(services)])
		attrs.PutStr("service.version", "1.4.2")
		attrs.PutStr("host.name", fmt.Sprintf("node-%d", r))
		attrs.PutStr("k8s.pod.name", fmt.Sprintf("%s-7d9f8-%05d", services[r%len(services)], r))
		attrs.PutStr("telemetry.sdk.language", "go")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		count := spans / resources
		if r < spans%resources {
			count++
		}
		for i := range count {
			span := ss.Spans().AppendEmpty()
			var trace [16]byte
			var id [8]byte
			trace[0], trace[1], id[0], id[1] = byte(r), byte(i), byte(r), byte(i)
			span.SetTraceID(pcommon.TraceID(trace))
			span.SetSpanID(pcommon.SpanID(id))
			span.SetName("GET /api/orders/{id}")
			span.SetKind(ptrace.SpanKindServer)
			span.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
			span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i+3) * time.Millisecond)))
			span.Attributes().PutStr("http.request.method", "GET")
			span.Attributes().PutStr("url.path", fmt.Sprintf("/api/orders/%d", i))
			span.Attributes().PutInt("http.response.status_code", 200)
			span.Attributes().PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")
			span.Status().SetCode(ptrace.StatusCodeOk)
		}
	}
	return td
}

func serviceNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return names
}

// measure runs b.N pushes of td after one untimed push (which finds the projects' keys),
// and reports per push the process's CPU time (all threads, Rust's included) and the
// Rust core's allocations.
func measure(b *testing.B, which kind, td ptrace.Traces) {
	exp, m := newExporter(b, which, func(*ours.Config) {})
	measurePushes(b, exp, m, td, func(int) {})
}

// measurePushes is measure for a started exporter; before push i (the untimed one is 0),
// vary(i) may change td.
func measurePushes(b *testing.B, exp exporter.Traces, m meters, td ptrace.Traces, vary func(int)) {
	// An exporter that takes a batch apart (ours moves each project's resources into a batch
	// of their own) owns what it is pushed: as behind the collector's batch processor, it gets
	// a batch of its own each time. Making that copy is the caller's cost, not counted.
	mutates := exp.Capabilities().MutatesData
	var copyCPU time.Duration
	push := func() error {
		batch := td
		if mutates {
			b.StopTimer()
			before := cpuTime(b)
			batch = ptrace.NewTraces()
			td.CopyTo(batch)
			copyCPU += cpuTime(b) - before
			b.StartTimer()
		}
		return exp.ConsumeTraces(context.Background(), batch)
	}
	vary(0)
	if err := push(); err != nil {
		b.Fatalf("warm-up push: %v", err)
	}
	allocsBefore, bytesBefore := m.coreAllocations(b)
	copyCPU = 0
	cpuBefore := cpuTime(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		vary(i + 1)
		if err := push(); err != nil {
			b.Fatalf("push: %v", err)
		}
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpuBefore - copyCPU
	allocsAfter, bytesAfter := m.coreAllocations(b)
	n := float64(b.N)
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/op")
	b.ReportMetric(float64(allocsAfter-allocsBefore)/n, "core-allocs/op")
	b.ReportMetric(float64(bytesAfter-bytesBefore)/n, "core-B/op")
}

func cpuTime(b *testing.B) time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		b.Fatal(err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// BenchmarkPush: one push of 1,000 spans over 10 projects.
func BenchmarkPush(b *testing.B) {
	td := traces(pushSpans, serviceNames("svc", pushProjects))
	for _, which := range []kind{oursKind, contribKind} {
		b.Run(string(which), func(b *testing.B) { measure(b, which, td) })
	}
}

// BenchmarkExceptions: the push of BenchmarkPush through ours with error events off, on
// (the batch holds no exception), and on with an exception event in 1% of the spans (new
// ones each push, so none is a duplicate; no per-minute cap).
func BenchmarkExceptions(b *testing.B) {
	plain := traces(pushSpans, serviceNames("svc", pushProjects))
	failing := traces(pushSpans, serviceNames("svc", pushProjects))
	marked := withExceptions(failing, pushSpans/100)
	cases := []struct {
		name    string
		errors  bool
		td      ptrace.Traces
		exposed []ptrace.Span
	}{
		{"errors=off", false, plain, nil},
		{"errors=on", true, plain, nil},
		{"errors=on/exceptions=1pct", true, failing, marked},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			exp, m := newExporter(b, oursKind, func(cfg *ours.Config) {
				cfg.Errors.Enabled = c.errors
				cfg.Errors.MaxPerMinute = 0
			})
			measurePushes(b, exp, m, c.td, func(push int) {
				for _, span := range c.exposed {
					// A new trace per push: each exception is a new one.
					trace := span.TraceID()
					trace[8], trace[9], trace[10], trace[11] = byte(push>>24), byte(push>>16), byte(push>>8), byte(push)
					span.SetTraceID(trace)
				}
			})
		})
	}
}

// withExceptions gives `n` spans of td, spread over its resources, an exception event with a
// Go panic's stack trace, as otelhttp records a recovered panic; it returns those spans.
func withExceptions(td ptrace.Traces, n int) []ptrace.Span {
	var all []ptrace.Span
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				all = append(all, span)
			}
		}
	}
	marked := make([]ptrace.Span, 0, n)
	for i := range n {
		span := all[i*len(all)/n]
		event := span.Events().AppendEmpty()
		event.SetName("exception")
		event.SetTimestamp(span.EndTimestamp())
		event.Attributes().PutStr("exception.type", "*errors.errorString")
		event.Attributes().PutStr("exception.message", "order not found")
		event.Attributes().PutStr("exception.stacktrace", goPanic)
		event.Attributes().PutBool("exception.escaped", true)
		span.Status().SetCode(ptrace.StatusCodeError)
		marked = append(marked, span)
	}
	return marked
}

const goPanic = `goroutine 42 [running]:
runtime/debug.Stack()
	/usr/local/go/src/runtime/debug/stack.go:26 +0x5e
example.com/shop/orders.(*Handler).lookup(0xc000130000, {0xc00001c0a0, 0x5})
	/src/shop/orders/handler.go:88 +0x1a5
example.com/shop/orders.(*Handler).ServeHTTP(0xc000130000, {0x7f1e40, 0xc0001c0000}, 0xc0001b4000)
	/src/shop/orders/handler.go:41 +0x8c
net/http.serverHandler.ServeHTTP({0xc0001a2000?}, {0x7f1e40?, 0xc0001c0000?}, 0x6?)
	/usr/local/go/src/net/http/server.go:3210 +0x8e
net/http.(*conn).serve(0xc0001d8000, {0x7f2580, 0xc0001a0f00})
	/usr/local/go/src/net/http/server.go:2092 +0x5d0
created by net/http.(*Server).Serve in goroutine 1
	/usr/local/go/src/net/http/server.go:3360 +0x485
`

// BenchmarkProjectsPerBatch: one batch of 1,000 spans over 1 to 1,000 projects, with the
// stand-in answering each ingest request after 5 ms, as a distant Sentry would.
func BenchmarkProjectsPerBatch(b *testing.B) {
	setIngestDelay(b, 5)
	for _, projects := range []int{1, 10, 100, scaleMaxProjects} {
		td := traces(pushSpans, serviceNames("p", projects))
		for _, which := range []kind{oursKind, contribKind} {
			b.Run(fmt.Sprintf("%s/projects=%d", which, projects), func(b *testing.B) { measure(b, which, td) })
		}
	}
}

func setIngestDelay(b *testing.B, ms int) {
	rule := fmt.Sprintf(`{"target":"ingest","delay_ms":%d}`, ms)
	control(b, http.MethodPost, rule)
	b.Cleanup(func() { control(b, http.MethodDelete, "") })
}

func control(b *testing.B, method, body string) {
	req, err := http.NewRequest(method, sentry.API+"/_standin/faults", bytes.NewBufferString(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Fatalf("%s /_standin/faults: %s", method, resp.Status)
	}
}
