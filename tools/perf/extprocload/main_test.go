package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const testRegistry = "../../../examples/registry"

// asMainEnv makes the test binary behave as extprocload itself, so that
// `run` can start its server children from os.Executable() in a test.
const asMainEnv = "EXTPROCLOAD_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// startServer serves p on a loopback port for the test's lifetime.
func startServer(t *testing.T, p extprocv3.ExternalProcessorServer) extprocv3.ExternalProcessorClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(g, p)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return extprocv3.NewExternalProcessorClient(conn)
}

func mustScenario(t *testing.T, name string) *scenario {
	t.Helper()
	sc, err := newScenario(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// recorder is the null processor that also keeps every message of every
// stream, to check what the driver sends.
type recorder struct {
	extprocv3.UnimplementedExternalProcessorServer
	mu      sync.Mutex
	streams [][]*extprocv3.ProcessingRequest
	ended   int // streams the client half-closed after the exchange
}

func (r *recorder) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	var got []*extprocv3.ProcessingRequest
	defer func() {
		r.mu.Lock()
		r.streams = append(r.streams, got)
		r.mu.Unlock()
	}()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			r.mu.Lock()
			r.ended++
			r.mu.Unlock()
			return nil
		}
		if err != nil {
			return err
		}
		got = append(got, req)
		resp, err := nullAnswer(req)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func TestExchangeSequence(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	client := startServer(t, rec)
	sc := mustScenario(t, scenarioClean)
	if _, err := exchange(context.Background(), client, sc, expectFor(modeNull, sc), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The server records the stream when its handler returns, which may be
	// just after the client saw the end of the stream.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.streams)
		rec.mu.Unlock()
		if n == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.streams) != 1 || rec.ended != 1 {
		t.Fatalf("streams = %d, half-closed = %d; want one stream, closed by the client", len(rec.streams), rec.ended)
	}
	msgs := rec.streams[0]
	want := []string{"request_headers", "request_body", "response_headers", "response_body"}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		var kind string
		var wrongEOS bool
		switch r := m.GetRequest().(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			kind, wrongEOS = "request_headers", r.RequestHeaders.GetEndOfStream()
		case *extprocv3.ProcessingRequest_RequestBody:
			kind, wrongEOS = "request_body", !r.RequestBody.GetEndOfStream()
			if n := len(r.RequestBody.GetBody()); n < 800 || n > 1300 {
				t.Errorf("request body is %d bytes, want about 1 KiB", n)
			}
		case *extprocv3.ProcessingRequest_ResponseHeaders:
			kind, wrongEOS = "response_headers", r.ResponseHeaders.GetEndOfStream()
		case *extprocv3.ProcessingRequest_ResponseBody:
			kind, wrongEOS = "response_body", !r.ResponseBody.GetEndOfStream()
			if n := len(r.ResponseBody.GetBody()); n < 800 || n > 1300 {
				t.Errorf("response body is %d bytes, want about 1 KiB", n)
			}
		}
		if kind != want[i] {
			t.Errorf("message %d is %q, want %q", i, kind, want[i])
		}
		// Headers never end the stream here (a body follows); bodies do
		// (BUFFERED: one whole message).
		if wrongEOS {
			t.Errorf("message %d (%s): wrong end_of_stream", i, kind)
		}
		if got := m.GetMetadataContext().GetFilterMetadata()["envoy.filters.http.ext_authz"].GetFields()["decision_id"].GetStringValue(); got != perfDecision {
			t.Errorf("message %d: ext_authz metadata decision_id = %q", i, got)
		}
		if (i == 0) != (m.GetProtocolConfig() != nil) {
			t.Errorf("message %d: protocol_config present = %v, want only on the first", i, m.GetProtocolConfig() != nil)
		}
	}
}

func TestExchangeChecksAnswers(t *testing.T) {
	t.Parallel()
	null := startServer(t, nullProcessor{})
	ag, err := actionGate(testRegistry, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	agClient := startServer(t, ag)
	tests := []struct {
		name     string
		client   extprocv3.ExternalProcessorClient
		scenario string
		expect   string
		wantErr  string
	}{
		{"null clean", null, scenarioClean, modeNull, ""},
		{"null secrets", null, scenarioSecrets, modeNull, ""},
		{"actiongate clean", agClient, scenarioClean, modeActionGate, ""},
		// Passes only if the production guard masked both planted values.
		{"actiongate secrets", agClient, scenarioSecrets, modeActionGate, ""},
		// The checks must catch a server that does not behave like ours.
		{"null held to actiongate", null, scenarioClean, modeActionGate, "mode_override"},
		{"unredacted result caught", agClient, scenarioSecrets, modeNull, "rewritten, but nothing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := mustScenario(t, tc.scenario)
			d, err := exchange(context.Background(), tc.client, sc, expectFor(tc.expect, sc), 5*time.Second)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one about %q", err, tc.wantErr)
			case err == nil && d <= 0:
				t.Errorf("latency %v", d)
			}
		})
	}
}

func TestCheckResponseBody(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, scenarioSecrets)
	want := expectFor(modeActionGate, sc)
	leaked := replaceWith([]byte(`{"text":"key ` + plantedAWSKey + `"}`))
	if err := checkResponseBody(leaked, want); err == nil {
		t.Error("a body still holding the key passed")
	}
	badLength := replaceWith([]byte(`{"text":"masked"}`))
	badLength.HeaderMutation.SetHeaders[0].Header.RawValue = []byte("3")
	if err := checkResponseBody(badLength, want); err == nil {
		t.Error("a wrong content-length passed")
	}
	if err := checkResponseBody(replaceWith([]byte(`{"text":"masked"}`)), want); err != nil {
		t.Error(err)
	}
}

// replaceWith is a body-rewriting answer as extproc builds one.
func replaceWith(body []byte) *extprocv3.CommonResponse {
	return &extprocv3.CommonResponse{
		HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
			Header: &corev3.HeaderValue{Key: "content-length", RawValue: []byte(strconv.Itoa(len(body)))},
		}}},
		BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: body}},
	}
}

func TestMeasureAgainstNull(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(g, nullProcessor{})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	// The server is in this process, so the CPU read is ours: only its
	// plumbing is under test here.
	r, err := measure(context.Background(), driveOptions{
		target: lis.Addr().String(), pid: os.Getpid(), expect: modeNull, scenario: scenarioSecrets,
		concurrency: 3, total: 25, warmup: 4, timeout: 5 * time.Second, serverLabel: "null",
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.exchanges != 25 || r.p50 <= 0 || r.p99 < r.p50 || r.cpuUS < 0 || r.wall <= 0 {
		t.Errorf("result = %+v", r)
	}
	if !strings.Contains(r.row(), "| null | secrets | 25 |") || !strings.Contains(r.row(), "n/a") {
		t.Errorf("row = %s", r.row())
	}
}

// TestRunAll is the whole command: both servers as child processes (this
// test binary in serve mode), every scenario, the summary.
func TestRunAll(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	t.Setenv(asMainEnv, "1") // inherited by the children only: TestMain already ran here
	var out, errOut bytes.Buffer
	err := runAll([]string{"-rounds", "1", "-c", "2", "-n", "30", "-warmup", "5", "-registry", testRegistry}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{
		"| 1 | null | clean | 30 |", "| 1 | null | secrets | 30 |",
		"| 1 | actiongate | clean | 30 |", "| 1 | actiongate | secrets | 30 |",
		"| clean | ", "| secrets | ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPercentileAndMedian(t *testing.T) {
	t.Parallel()
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Millisecond
	}
	if p := percentile(lat, 0.5); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(lat, 0.99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of nothing = %v", p)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
}

func TestUnknownScenario(t *testing.T) {
	t.Parallel()
	if _, err := newScenario("bogus"); err == nil {
		t.Error("unknown scenario accepted")
	}
}
