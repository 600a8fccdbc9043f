package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/actiongate/actiongate/internal/decision"
)

// A scenario is one MCP tools/call exchange as Envoy presents it to our
// ext_proc filter (xds/listener.go: request headers SEND, request body
// BUFFERED, response headers SEND, response body STREAMED with
// allow_mode_override, ext_authz's namespace forwarded): the four messages
// in the order Envoy sends them, each carrying the forwarded metadata.
type scenario struct {
	name string
	// secrets: the result holds an email address and an AWS access key id,
	// which the production output policy masks.
	secrets bool
	msgs    [4]*extprocv3.ProcessingRequest
	// planted are the strings that must not come back when redacting.
	planted []string
}

const (
	scenarioClean   = "clean"
	scenarioSecrets = "secrets"
)

var scenarioNames = []string{scenarioClean, scenarioSecrets}

// The principal, server and tool of the exchange: registered in
// examples/registry (mail is a confidential server; inbox-assistant may
// call send_email), so the registry lookup ext_proc does finds them.
const (
	perfServer   = "mail"
	perfTool     = "send_email"
	perfAgent    = "inbox-assistant"
	perfUser     = "dana.lee"
	perfTenant   = "northwind"
	perfRPCID    = "42"
	perfDecision = "01JDPERF0000000000000000EX"
)

// Planted values: the demo mail server's fake ones (internal/demo), which
// the redaction tests already show are found (the key is not an AWS
// documentation example, so allow-lists do not skip it).
const (
	plantedEmail  = "jane.roe.personal@example.org"
	plantedAWSKey = "AKIAZ7VQ4CNHV3HMSPLE"
)

// requestBody is a ~1 KiB tools/call: an email with a plain-text body.
func requestBody() []byte {
	args := map[string]string{
		"to":      "dana.lee@example.com",
		"subject": "Re: Q3 planning review moved to Thursday",
		"body": "Hi Dana,\n\nThursday at ten works for me. I have booked the large meeting room on the third floor " +
			"and sent the agenda to the team. We will start with the regional sales figures, then go through the " +
			"hiring plan for the support desk and the timeline for the warehouse move. Please bring the updated " +
			"forecast if finance has signed it off by then; otherwise we can use last month's numbers and mark " +
			"them as provisional. Marco asked whether the review could finish by noon because he is travelling " +
			"in the afternoon, so I have kept the last item short. If anything else needs to go on the agenda, " +
			"send it to me by Wednesday evening and I will add it. Coffee and sandwiches are ordered for twelve " +
			"people.\n\nThanks,\nAlex",
	}
	return mustJSON(map[string]any{
		"jsonrpc": "2.0", "id": 42, "method": "tools/call",
		"params": map[string]any{"name": perfTool, "arguments": args},
	})
}

// resultText is ~1 KiB of ordinary tool output. With secrets, one sentence
// carries the planted email address and access key id instead.
func resultText(secrets bool) string {
	middle := "The recipient's mail server accepted the message on the first attempt and no bounce or " +
		"auto-reply has been received so far."
	if secrets {
		middle = "Replies will also go to " + plantedEmail + "; the relay authenticated with access key " +
			plantedAWSKey + " as configured."
	}
	return "Message sent. Subject: Re: Q3 planning review moved to Thursday. The message was delivered to one " +
		"recipient and a copy was saved in the Sent folder of the shared mailbox. " + middle + " The thread now " +
		"holds four messages: the original invitation, the request to move the review, the confirmation of the " +
		"new time and this reply. Two attachments from earlier in the thread were not included in the reply " +
		"because the user chose to send text only. The mailbox is at sixty percent of its storage quota, and " +
		"messages older than two years will be archived at the end of the month unless they are pinned. " +
		"Delivery receipts were not requested for this message, so no further notification will arrive when it " +
		"is read. The draft that this reply was written from has been removed from the Drafts folder."
}

func responseBody(secrets bool) []byte {
	return mustJSON(map[string]any{
		"jsonrpc": "2.0", "id": 42,
		"result": map[string]any{
			"content": []map[string]string{{"type": "text", "text": resultText(secrets)}},
			"isError": false,
		},
	})
}

// authzMetadata is what ext_authz leaves in dynamic metadata for an
// allowed call (extauthz/response.go metadata) and the filter forwards on
// every message.
func authzMetadata() *corev3.Metadata {
	s := func(v string) *structpb.Value { return structpb.NewStringValue(v) }
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"envoy.filters.http.ext_authz": {Fields: map[string]*structpb.Value{
			decision.MetaDecisionID: s(perfDecision),
			decision.MetaServer:     s(perfServer),
			decision.MetaMethod:     s("tools/call"),
			decision.MetaTool:       s(perfTool),
			decision.MetaRegistry:   s("sha256:perf"),
			decision.MetaPolicy:     s("perf"),
			decision.MetaUser:       s(perfUser),
			decision.MetaAgent:      s(perfAgent),
			decision.MetaTenant:     s(perfTenant),
			decision.MetaTask:       s(""),
			decision.MetaRequestID:  s(perfRPCID),
			"outcome":               s("allow"),
			"reason":                s("allowed"),
		}},
	}}
}

func headerMap(kv ...string) *corev3.HeaderMap {
	hm := &corev3.HeaderMap{}
	for i := 0; i+1 < len(kv); i += 2 {
		// send_header_raw_value is on in the Envoy versions we support:
		// values arrive in raw_value only.
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return hm
}

// newScenario builds the messages once; they are only read afterwards, so
// every worker sends the same ones.
func newScenario(name string) (*scenario, error) {
	sc := &scenario{name: name}
	switch name {
	case scenarioClean:
	case scenarioSecrets:
		sc.secrets = true
		sc.planted = []string{plantedEmail, plantedAWSKey}
	default:
		return nil, fmt.Errorf("unknown scenario %q (want %s)", name, strings.Join(scenarioNames, " or "))
	}
	md := authzMetadata()
	req, resp := requestBody(), responseBody(sc.secrets)
	// The request headers as they leave ext_authz: authorization removed
	// (no token passthrough), the decision id header added.
	reqHeaders := headerMap(
		":authority", "127.0.0.1:10000", ":path", "/mcp/"+perfServer, ":method", "POST", ":scheme", "http",
		"content-type", "application/json", "accept", "application/json, text/event-stream",
		"mcp-protocol-version", "2025-06-18", "mcp-session-id", "5f0c1d2e-perf",
		"user-agent", "actiongate-perf/1", "x-request-id", "3b9f7a4c-2d1e-4c5b-9a8f-perf",
		"x-forwarded-proto", "http", "content-length", strconv.Itoa(len(req)),
		"accept-encoding", "gzip, deflate", decision.HeaderDecisionID, perfDecision,
	)
	respHeaders := headerMap(
		":status", "200", "content-type", "application/json", "content-length", strconv.Itoa(len(resp)),
		"date", "Thu, 26 Nov 2026 10:00:00 GMT", "mcp-session-id", "5f0c1d2e-perf",
		"x-envoy-upstream-service-time", "3",
	)
	sc.msgs = [4]*extprocv3.ProcessingRequest{
		{
			Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: reqHeaders}},
			// Sent on the first message of a stream: the filter's body modes.
			ProtocolConfig: &extprocv3.ProtocolConfiguration{
				RequestBodyMode:  extprocfv3.ProcessingMode_BUFFERED,
				ResponseBodyMode: extprocfv3.ProcessingMode_STREAMED,
			},
			MetadataContext: md,
		},
		{
			Request:         &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: req, EndOfStream: true}},
			MetadataContext: md,
		},
		{
			Request:         &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{Headers: respHeaders}},
			MetadataContext: md,
		},
		{
			// Whole and end_of_stream: what Envoy sends once our answer to
			// the response headers switched the body to BUFFERED.
			Request:         &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{Body: resp, EndOfStream: true}},
			MetadataContext: md,
		},
	}
	return sc, nil
}

// sizes reports the request and response body sizes, for the table.
func (sc *scenario) sizes() (req, resp int) {
	return len(sc.msgs[1].GetRequestBody().GetBody()), len(sc.msgs[3].GetResponseBody().GetBody())
}

// expect is what a correct answer looks like beyond its type.
type expect struct {
	// buffered: the server must switch the response body to BUFFERED (ours
	// does for application/json; otherwise Envoy would stream the body
	// and the last message we send would not be what Envoy sends).
	buffered bool
	// redact: the response body must come back rewritten without planted.
	redact  bool
	planted []string
}

func expectFor(mode string, sc *scenario) expect {
	if mode != modeActionGate {
		return expect{}
	}
	return expect{buffered: true, redact: sc.secrets, planted: sc.planted}
}

// checkAnswer verifies the answer to message i of an exchange: the
// matching type, never a local reply, and for ActionGate the behaviour the
// measurement assumes. A fast wrong answer is no result.
func checkAnswer(i int, resp *extprocv3.ProcessingResponse, want expect) error {
	if ir := resp.GetImmediateResponse(); ir != nil {
		return fmt.Errorf("message %d: immediate response %d (%s)", i, ir.GetStatus().GetCode(), ir.GetDetails())
	}
	var common *extprocv3.CommonResponse
	switch i {
	case 0:
		h := resp.GetRequestHeaders()
		if h == nil {
			return fmt.Errorf("request_headers answered with %T", resp.GetResponse())
		}
		common = h.GetResponse()
	case 1:
		b := resp.GetRequestBody()
		if b == nil {
			return fmt.Errorf("request_body answered with %T", resp.GetResponse())
		}
		common = b.GetResponse()
	case 2:
		h := resp.GetResponseHeaders()
		if h == nil {
			return fmt.Errorf("response_headers answered with %T", resp.GetResponse())
		}
		if want.buffered && resp.GetModeOverride().GetResponseBodyMode() != extprocfv3.ProcessingMode_BUFFERED {
			return fmt.Errorf("response_headers: mode_override %v, want response body BUFFERED", resp.GetModeOverride())
		}
		common = h.GetResponse()
	case 3:
		b := resp.GetResponseBody()
		if b == nil {
			return fmt.Errorf("response_body answered with %T", resp.GetResponse())
		}
		return checkResponseBody(b.GetResponse(), want)
	default:
		return fmt.Errorf("unexpected answer %d", i)
	}
	if common.GetStatus() != extprocv3.CommonResponse_CONTINUE {
		return fmt.Errorf("message %d: status %v", i, common.GetStatus())
	}
	if common.GetBodyMutation() != nil {
		return fmt.Errorf("message %d: unexpected body mutation", i)
	}
	return nil
}

func checkResponseBody(c *extprocv3.CommonResponse, want expect) error {
	if c.GetStatus() != extprocv3.CommonResponse_CONTINUE {
		return fmt.Errorf("response_body: status %v", c.GetStatus())
	}
	body := c.GetBodyMutation().GetBody()
	if !want.redact {
		if c.GetBodyMutation() != nil {
			return errors.New("response_body: rewritten, but nothing in it should be")
		}
		return nil
	}
	if len(body) == 0 {
		return errors.New("response_body: not redacted")
	}
	for _, p := range want.planted {
		if bytes.Contains(body, []byte(p)) {
			return fmt.Errorf("response_body: a planted value (%d bytes) is still there", len(p))
		}
	}
	if !json.Valid(body) {
		return errors.New("response_body: rewritten body is not JSON")
	}
	for _, h := range c.GetHeaderMutation().GetSetHeaders() {
		if h.GetHeader().GetKey() == "content-length" {
			if string(h.GetHeader().GetRawValue()) != strconv.Itoa(len(body)) {
				return errors.New("response_body: content-length disagrees with the rewritten body")
			}
			return nil
		}
	}
	return errors.New("response_body: rewritten without content-length")
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static input
	}
	return b
}
