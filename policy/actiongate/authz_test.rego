# Unit tests for the default policy. `go test ./internal/policy/` runs them
# (TestRegoUnitTests) with the bundle's data.json, the same capabilities and
# strict builtin errors as the gateway. Test files are not part of the
# bundle's revision and are never compiled into the gateway's engine.
package actiongate.authz_test

import data.actiongate.authz

# A tools/call input as ext_authz builds it; tests override what they need.
call(agent_tier, server, tool, args) := {
	"principal": {
		"user": "trader-bob", "agent": "trade-executor", "tenant": "northwind",
		"task": "", "groups": [], "chain": [],
	},
	"agent": {"id": "trade-executor", "tier": agent_tier, "owner": "electronic-trading@northwind.example"},
	"server": {"id": server.id, "classification": server.classification},
	"tool": tool,
	"call": {"method": "tools/call", "arguments": args},
	"time": "2026-03-04T15:00:00Z",
	"registry_version": "sha256:test",
}

trading := {"id": "trading", "classification": "confidential"}

ehr := {"id": "ehr", "classification": "restricted"}

mail := {"id": "mail", "classification": "confidential"}

hints(read_only, destructive) := {
	"readOnlyHint": read_only, "destructiveHint": destructive,
	"idempotentHint": false, "openWorldHint": true,
}

get_quote := {"name": "get_quote", "risk": "low", "annotations": hints(true, false)}

place_trade := {"name": "place_trade", "risk": "high", "annotations": hints(false, true)}

read_chart := {"name": "read_chart", "risk": "low", "annotations": hints(true, false)}

write_summary := {"name": "write_summary", "risk": "high", "annotations": hints(false, true)}

send_email := {"name": "send_email", "risk": "high", "annotations": hints(false, false)}

trade(qty, symbol) := call(2, trading, place_trade, {"symbol": symbol, "side": "buy", "quantity": qty, "account": "ACC-7"})

test_tier2_quote_allowed if {
	d := authz.decision with input as call(2, trading, get_quote, {"symbol": "ACME"})
	d.allow
	not d.approval_required
	d.reasons == {"allow:read_only"}
}

test_tier1_read_only_allowed_with_full_audit if {
	d := authz.decision with input as call(1, ehr, read_chart, {"patient_id": "p-1001"})
	d.allow
	d.obligations == {"audit_detail": "full"}
}

test_tier1_write_needs_approval if {
	d := authz.decision with input as call(1, ehr, write_summary, {"patient_id": "p-1001", "summary": "ok"})
	not d.allow
	d.approval_required
	"approval_required:tier1_non_read_only" in d.reasons
}

test_critical_needs_approval_at_tier4 if {
	tool := json.patch(get_quote, [{"op": "replace", "path": "/risk", "value": "critical"}])
	d := authz.decision with input as call(4, trading, tool, {"symbol": "ACME"})
	d.approval_required
	d.reasons == {"approval_required:critical_risk"}
}

test_small_trade_allowed if {
	# 10 x 336.23 = 3,362.30
	d := authz.decision with input as trade(10, "ACME")
	d.allow
	d.reasons == {"allow:trade_within_limit"}
}

test_trade_at_limit_allowed_one_more_needs_approval if {
	at := authz.decision with input as trade(100, "ACME")
		with data.actiongate.trading.reference_prices_cents as {"ACME": 10000}
	at.allow
	over := authz.decision with input as trade(101, "ACME")
		with data.actiongate.trading.reference_prices_cents as {"ACME": 10000}
	over.approval_required
}

test_large_trade_needs_approval if {
	# 100 x 336.23 = 33,623
	d := authz.decision with input as trade(100, "ACME")
	d.approval_required
	d.reasons == {"approval_required:trade_over_limit"}
}

test_restricted_instrument_denied_even_when_over_limit if {
	d := authz.decision with input as trade(1000, "RSTR")
	not d.allow
	not d.approval_required
	d.reasons == {"restricted_instrument"}
}

test_unknown_symbol_needs_approval if {
	d := authz.decision with input as trade(1, "ZZZZ")
	d.approval_required
	d.reasons == {"approval_required:unpriced_instrument"}
}

test_malformed_quantity_denied if {
	d := authz.decision with input as trade("10", "ACME")
	not d.allow
	not d.approval_required
	d.reasons == {"invalid_trade_arguments"}
}

test_missing_limit_escalates_every_trade if {
	d := authz.decision with input as trade(1, "ACME")
		with data.actiongate.trading as {"reference_prices_cents": {"ACME": 1}}
	d.reasons == {"approval_required:trade_over_limit"}
}

test_missing_data_escalates_destructive_calls if {
	d := authz.decision with input as trade(1, "ACME")
		with data.actiongate.autonomous_tools as {}
		with data.actiongate.trading as {}
	d.reasons == {"approval_required:destructive", "approval_required:unpriced_instrument"}
}

test_missing_method_denied if {
	d := authz.decision with input as json.remove(trade(1, "ACME"), ["call/method"])
	d.reasons == {"incomplete_input"}
}

test_destructive_tier2_needs_approval_unless_autonomous if {
	d := authz.decision with input as call(2, ehr, write_summary, {"patient_id": "p-1", "summary": "s"})
	d.reasons == {"approval_required:destructive"}
	d2 := authz.decision with input as call(3, ehr, write_summary, {"patient_id": "p-1", "summary": "s"})
	d2.allow
}

test_step_up_email_at_any_tier if {
	d := authz.decision with input as call(4, mail, send_email, {"to": "a@example.com"})
	d.approval_required
	d.reasons == {"approval_required:step_up:external_email"}
}

test_invalid_tier_denied if {
	d := authz.decision with input as call(7, trading, get_quote, {"symbol": "ACME"})
	d.reasons == {"invalid_agent_tier"}
	not d.allow
}

test_missing_agent_denied if {
	d := authz.decision with input as json.remove(call(2, trading, get_quote, {"symbol": "ACME"}), ["agent"])
	not d.allow
	not d.approval_required
}

test_non_tool_call_allowed if {
	list := json.patch(call(1, trading, get_quote, {}), [{"op": "replace", "path": "/call/method", "value": "tools/list"}])
	d := authz.decision with input as list
	d.allow
	d.reasons == {"allow:not_a_tool_call"}
}

window := {"trading": {"days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"], "start_hour_utc": 14, "end_hour_utc": 21}}

test_change_window if {
	# 2026-03-04 is a Wednesday: 15:00Z is inside, 22:00Z and Saturday are not.
	inside := authz.decision with input as trade(1, "ACME") with data.actiongate.change_windows as window
	inside.allow
	late := authz.decision with input as json.patch(trade(1, "ACME"), [{"op": "replace", "path": "/time", "value": "2026-03-04T22:00:00Z"}])
		with data.actiongate.change_windows as window
	late.reasons == {"outside_change_window"}
	weekend := authz.decision with input as json.patch(trade(1, "ACME"), [{"op": "replace", "path": "/time", "value": "2026-03-07T15:00:00Z"}])
		with data.actiongate.change_windows as window
	weekend.reasons == {"outside_change_window"}
	quote := authz.decision with input as call(2, trading, get_quote, {"symbol": "ACME"})
		with data.actiongate.change_windows as window
	quote.allow
}
