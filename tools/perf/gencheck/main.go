// Command gencheck writes what ghz needs to load-test an ext_authz server:
// a CheckRequest as Envoy sends it for one MCP tools/call through the
// gateway (raw body, raw header map, the route's context extensions), as
// protobuf JSON for ghz --data-file, and optionally a protoset for ghz
// --protoset so no server needs reflection.
//
//	gencheck -out check.json -protoset authz.protoset -token "$JWT"
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TokenEnv is read when -token is not given.
const TokenEnv = "AG_PERF_TOKEN"

type options struct {
	out, protoset, token        string
	unsignedToken               bool
	server, tool, args, version string
	user, agent, tenant         string
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gencheck:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("gencheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "-", "where to write the CheckRequest JSON (- for stdout)")
	fs.StringVar(&o.protoset, "protoset", "", "also write a FileDescriptorSet of envoy.service.auth.v3 here")
	fs.StringVar(&o.token, "token", "", "bearer token for the authorization header (default $"+TokenEnv+")")
	fs.BoolVar(&o.unsignedToken, "unsigned-demo-token", false, "with no token, put in an unsigned JWT (alg none): only for servers that do not verify tokens")
	fs.StringVar(&o.server, "server", "trading", "MCP server id (route context extension server_id)")
	fs.StringVar(&o.tool, "tool", "get_quote", "tool name of the tools/call")
	fs.StringVar(&o.args, "arguments", `{"symbol":"ACME"}`, "tools/call arguments (a JSON object)")
	fs.StringVar(&o.version, "registry-version", "sha256:perf", "route context extension registry_version")
	fs.StringVar(&o.user, "user", "trader-bob", "demo token subject")
	fs.StringVar(&o.agent, "agent", "trade-executor", "demo token azp")
	fs.StringVar(&o.tenant, "tenant", "northwind", "demo token tenant")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.token == "" {
		o.token = os.Getenv(TokenEnv)
	}
	if o.token == "" {
		if !o.unsignedToken {
			return errors.New("no token: pass -token, set " + TokenEnv + ", or -unsigned-demo-token")
		}
		o.token = unsignedJWT(o)
	}
	req, err := checkRequest(o)
	if err != nil {
		return err
	}
	data, err := protojson.MarshalOptions{Multiline: true}.Marshal(req)
	if err != nil {
		return err
	}
	if err := write(o.out, stdout, data); err != nil {
		return err
	}
	if o.protoset != "" {
		set, err := proto.Marshal(fileDescriptorSet(authv3.File_envoy_service_auth_v3_external_auth_proto))
		if err != nil {
			return err
		}
		return write(o.protoset, stdout, set)
	}
	return nil
}

func checkRequest(o options) (*authv3.CheckRequest, error) {
	var arguments json.RawMessage
	if err := json.Unmarshal([]byte(o.args), &arguments); err != nil || len(arguments) == 0 || arguments[0] != '{' {
		return nil, errors.New("-arguments must be a JSON object")
	}
	body, err := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": 7, "method": "tools/call",
		"params": map[string]any{"name": o.tool, "arguments": arguments},
	})
	if err != nil {
		return nil, err
	}
	path := "/mcp/" + o.server
	headers := [][2]string{
		{":authority", "127.0.0.1:10000"}, {":path", path}, {":method", "POST"}, {":scheme", "http"},
		{"content-type", "application/json"}, {"accept", "application/json, text/event-stream"},
		{"authorization", "Bearer " + o.token}, {"mcp-protocol-version", "2025-06-18"},
		{"mcp-session-id", "5f0c1d2e-perf"}, {"user-agent", "actiongate-perf/1"},
		{"x-request-id", "3b9f7a4c-2d1e-4c5b-9a8f-perf"}, {"x-forwarded-proto", "http"},
		{"content-length", fmt.Sprint(len(body))},
	}
	hm := &corev3.HeaderMap{}
	for _, h := range headers {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: h[0], RawValue: []byte(h[1])})
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: sockAddr("127.0.0.1", 50110)},
		Destination: &authv3.AttributeContext_Peer{Address: sockAddr("127.0.0.1", 10000)},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "14768131945693741411", Method: "POST", Path: path, Host: "127.0.0.1:10000",
			Scheme: "http", Protocol: "HTTP/1.1", Size: int64(len(body)), RawBody: body, HeaderMap: hm,
		}},
		ContextExtensions: map[string]string{"server_id": o.server, "registry_version": o.version},
	}}, nil
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// unsignedJWT is a token-shaped string with the demo principal's claims and
// no signature. Only the null and plain-OPA servers accept it.
func unsignedJWT(o options) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"iss": "https://idp.perf.invalid", "sub": o.user, "azp": o.agent, "tenant": o.tenant,
		"aud": "actiongate", "exp": time.Now().Add(24 * time.Hour).Unix(),
	})
	return header + "." + enc.EncodeToString(claims) + "."
}

// fileDescriptorSet holds fd and everything it imports, dependencies first,
// as protoc --include_imports would write it.
func fileDescriptorSet(fd protoreflect.FileDescriptor) *descriptorpb.FileDescriptorSet {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imports := f.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(f))
	}
	add(fd)
	return set
}

func write(path string, stdout io.Writer, data []byte) error {
	if path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
