package authzmodel

import (
	"strings"
	"testing"
)

func TestLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		endpoint string
		want     bool
	}{
		{"127.0.0.1:50051", true},
		{"127.1.2.3:50051", true},
		{"[::1]:50051", true},
		{"localhost:50051", true},
		{"10.0.0.5:50051", false},
		{"spicedb.internal:50051", false},
		{"localhost.evil.example:50051", false},
		{"127.0.0.1", false}, // no port: not an endpoint
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.endpoint, func(t *testing.T) {
			t.Parallel()
			if got := loopback(tc.endpoint); got != tc.want {
				t.Fatalf("loopback(%q) = %v, want %v", tc.endpoint, got, tc.want)
			}
		})
	}
}

func TestDial_Refuses(t *testing.T) {
	t.Parallel()
	const key = "do-not-print-this-key-0123456789"
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no endpoint", Options{PresharedKey: key, Insecure: true}, "endpoint is empty"},
		{"no key", Options{Endpoint: "127.0.0.1:1", Insecure: true}, "preshared key is empty"},
		{"plaintext off loopback", Options{Endpoint: "10.1.2.3:50051", PresharedKey: key, Insecure: true}, "plaintext is allowed only to a loopback address"},
		{"missing CA file", Options{Endpoint: "spicedb.example:443", PresharedKey: key, CAFile: "/nonexistent/ca.pem"}, "TLS roots"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Dial(testContext(t), tc.opts)
			if err == nil {
				_ = c.Close()
				t.Fatal("Dial succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), key) {
				t.Fatalf("error %q: want it to say %q and never contain the key", err, tc.want)
			}
		})
	}
}

func TestDial_WrongKey(t *testing.T) {
	t.Parallel()
	_, srv := freshClient(t)
	const wrong = "wrong-key-must-not-appear-in-errors"
	c, err := Dial(testContext(t), Options{Endpoint: srv.Endpoint, PresharedKey: wrong, Insecure: true})
	if err == nil {
		_ = c.Close()
		t.Fatal("Dial with a wrong key succeeded")
	}
	if !strings.Contains(err.Error(), "rejected the preshared key") || strings.Contains(err.Error(), wrong) ||
		strings.Contains(err.Error(), srv.PresharedKey) {
		t.Fatalf("error %q: want a rejected-key error without any key in it", err)
	}
}

func TestClient_EnsureSchema(t *testing.T) {
	t.Parallel()
	c, _ := freshClient(t)
	ctx := testContext(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping a server without a schema: %v", err)
	}
	if differs, err := c.SchemaDiffers(ctx); err != nil || !differs {
		t.Fatalf("empty server: differs=%v, %v", differs, err)
	}
	if wrote, err := c.EnsureSchema(ctx); err != nil || !wrote {
		t.Fatalf("first EnsureSchema: wrote=%v, %v", wrote, err)
	}
	floor := c.ConsistencyFloor()
	if floor == "" {
		t.Fatal("writing the schema did not raise the consistency floor")
	}
	if wrote, err := c.EnsureSchema(ctx); err != nil || wrote {
		t.Fatalf("second EnsureSchema: wrote=%v, %v; want nothing to write", wrote, err)
	}
	if c.ConsistencyFloor() != floor {
		t.Fatal("an EnsureSchema that wrote nothing moved the floor")
	}
}

func TestClient_ObserveZedToken(t *testing.T) {
	t.Parallel()
	c := &Client{}
	c.consistency.Store(minimizeLatency)
	if c.ConsistencyFloor() != "" {
		t.Fatal("a new client has a floor")
	}
	c.ObserveZedToken("")
	if c.ConsistencyFloor() != "" {
		t.Fatal("an empty token set a floor")
	}
	c.ObserveZedToken("GhUKEzE3")
	if got := c.ConsistencyFloor(); got != "GhUKEzE3" {
		t.Fatalf("floor = %q", got)
	}
}

func TestSchema_NamesMatch(t *testing.T) {
	t.Parallel()
	// Every name the Go code sends must appear in the schema text.
	for _, name := range []string{
		"definition " + typeUser + " ", "definition " + typeGroup + " ", "definition " + typeTenant + " ",
		"definition " + typeTier + " ", "definition " + typeAgent + " ", "definition " + typeServer + " ",
		"definition " + typeTool + " ", "definition " + typeRevocations + " ",
		"relation " + relRevocations + ": " + typeRevocations, "relation " + relRevokedUser + ": " + typeUser,
		"relation " + relRevokedAgent + ": " + typeAgent,
		"permission " + permInvoke + " = (user_may & agent_may) - " + relRevocations + "->blocked",
		"permission blocked = " + relRevokedUser + " + " + relRevokedAgent + "->" + relActing,
		"relation " + relClaimed + ":", "permission " + relMember + " =", "relation " + relCurrent + ":",
		"relation " + relActing + ":", "relation " + relApproved + ":", "relation " + relTenant + ":",
		"relation " + relTier + ":", "relation " + relServer + ":", "relation " + relUserGrant + ":",
		"relation " + relAgentGrant + ":", "permission " + permInvoke + " =",
		"caveat " + caveatInGroups + "(" + paramGroup + " string, " + ctxGroups + " list<string>)",
		"caveat " + caveatRequestTenant + "(" + paramTenant + " string, " + ctxTenant + " string)",
		"caveat " + caveatActingAgent + "(" + paramAgentID + " string, " + ctxAgent + " string)",
	} {
		if !strings.Contains(Schema, name) {
			t.Errorf("schema.zed has no %q", name)
		}
	}
}
