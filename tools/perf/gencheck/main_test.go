package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
)

func TestRun_WritesACheckRequestAndProtoset(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	set := filepath.Join(dir, "authz.protoset")
	var out bytes.Buffer
	err := run([]string{"-token", "header.payload.sig", "-tool", "place_trade",
		"-arguments", `{"symbol":"ACME","quantity":5}`, "-protoset", set}, &out, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var req authv3.CheckRequest
	if err := protojson.Unmarshal(out.Bytes(), &req); err != nil {
		t.Fatalf("output is not a CheckRequest: %v", err)
	}
	h := req.GetAttributes().GetRequest().GetHttp()
	var body struct {
		Method string `json:"method"`
		Params struct {
			Name      string         `json:"name"`
			Arguments map[string]any `json:"arguments"`
		} `json:"params"`
	}
	if err := json.Unmarshal(h.GetRawBody(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Method != "tools/call" || body.Params.Name != "place_trade" || body.Params.Arguments["symbol"] != "ACME" {
		t.Errorf("body = %s", h.GetRawBody())
	}
	var authz string
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		if hv.GetKey() == "authorization" {
			authz = string(hv.GetRawValue())
		}
	}
	if authz != "Bearer header.payload.sig" || req.GetAttributes().GetContextExtensions()["server_id"] != "trading" {
		t.Errorf("authorization %q, context %v", authz, req.GetAttributes().GetContextExtensions())
	}
	raw, err := os.ReadFile(set)
	if err != nil {
		t.Fatal(err)
	}
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &fds); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(&fds)
	if err != nil {
		t.Fatalf("protoset does not resolve on its own: %v", err)
	}
	if _, err := files.FindDescriptorByName("envoy.service.auth.v3.Authorization"); err != nil {
		t.Error(err)
	}
}

func TestRun_RefusesMissingToken(t *testing.T) {
	t.Setenv(TokenEnv, "")
	var out bytes.Buffer
	err := run([]string{"-out", filepath.Join(t.TempDir(), "x.json")}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("err = %v", err)
	}
	if err := run([]string{"-unsigned-demo-token", "-arguments", "[1]"}, &out, &out); err == nil {
		t.Error("non-object arguments accepted")
	}
}
