# METADATA
# title: ActionGate default authorization policy
# description: |
#   Decides every MCP request that ext_authz's own checks (token, registry,
#   SpiceDB) let through. The input contract is docs/policy.md. Thresholds
#   and lists live in data.json next to this file, so changing a limit is a
#   data change with its own revision, reviewed like code.
package actiongate.authz

# The one document ActionGate queries. Exactly one outcome holds:
#   allow: true                -> the call runs now
#   approval_required: true    -> the call runs once a person signs an
#                                 approval bound to exactly this call
#   both false                 -> deny
# The branches are tried in order, so a deny reason beats an approval reason:
# an approval must never unlock what the policy forbids outright (a
# restricted instrument stays restricted, however senior the approver).
decision := {"allow": true, "approval_required": false, "reasons": {"allow:not_a_tool_call"}, "obligations": obligations} if {
	# initialize, tools/list, ... carry no action; ext_proc filters what
	# tools/list returns.
	input.call.method != "tools/call"
} else := {"allow": false, "approval_required": false, "reasons": deny_reasons, "obligations": obligations} if {
	count(deny_reasons) > 0
} else := {"allow": false, "approval_required": true, "reasons": approval_reasons, "obligations": obligations} if {
	count(approval_reasons) > 0
} else := {"allow": true, "approval_required": false, "reasons": allow_reasons, "obligations": obligations}

# ---------------------------------------------------------------------------
# Facts about the call.
#
# Settings are read from data.actiongate.* where they are used. A missing
# setting makes the rule that needs it escalate (see each rule): a bundle
# with incomplete data must never allow more.

read_only if input.tool.annotations.readOnlyHint == true

# Negations of calls go through helper rules: in Rego `not x in s` (or
# `not f(x)`) does not succeed when x is undefined, which would silently skip
# a deny for an input that lacks the field.
valid_tier if input.agent.tier in {1, 2, 3, 4}

autonomous if data.actiongate.autonomous_tools[input.server.id][input.tool.name]

# The trade rules read place_trade's arguments (symbol, quantity), so they
# name the tool rather than take it from data. Each trade rule spells out
# the two comparisons instead of calling is_trade: OPA indexes rules on such
# equalities and skips them without evaluation for every other tool.
is_trade if {
	input.tool.name == "place_trade"
	input.server.id == "trading"
}

# Argument types are checked here as well as against the tool's JSON Schema:
# the policy's arithmetic must not depend on another component.
valid_trade if {
	is_string(input.call.arguments.symbol)
	is_number(input.call.arguments.quantity)
	input.call.arguments.quantity > 0
}

# Prices and the limit are integers in cents: exact money arithmetic.
price_cents := data.actiongate.trading.reference_prices_cents[input.call.arguments.symbol]

within_limit if {
	input.call.arguments.quantity * price_cents <= data.actiongate.trading.notional_limit_cents
}

# ---------------------------------------------------------------------------
# Deny: no approval can unlock these.

# Tiers are 1..4; anything else, or no agent at all, means the input is not
# what the registry produces, so nothing about the agent can be trusted.
deny_reasons contains "invalid_agent_tier" if not valid_tier

deny_reasons contains "incomplete_input" if not input.tool.name

deny_reasons contains "incomplete_input" if not input.server.id

deny_reasons contains "incomplete_input" if not input.call.method

deny_reasons contains "restricted_instrument" if {
	input.tool.name == "place_trade"
	input.server.id == "trading"
	data.actiongate.trading.restricted_instruments[input.call.arguments.symbol]
}

deny_reasons contains "invalid_trade_arguments" if {
	input.tool.name == "place_trade"
	input.server.id == "trading"
	not valid_trade
}

# Change windows bound when state-changing calls may run on a server:
# data.actiongate.change_windows[server id] = {"days": ["Monday", ...],
# "start_hour_utc": 14, "end_hour_utc": 21}. None by default.
deny_reasons contains "outside_change_window" if {
	not read_only
	window := data.actiongate.change_windows[input.server.id]
	not in_window(window)
}

in_window(window) if {
	ns := time.parse_rfc3339_ns(input.time)
	time.weekday(ns) in window.days
	[hour, _, _] := time.clock(ns)
	hour >= window.start_hour_utc
	hour < window.end_hour_utc
}

# ---------------------------------------------------------------------------
# Approval required: the call may run once a person signs for it.

# Tier 1 (fully supervised): every call that changes anything.
approval_reasons contains "approval_required:tier1_non_read_only" if {
	input.agent.tier == 1
	not read_only
}

# Critical tools, whatever the tier.
approval_reasons contains "approval_required:critical_risk" if input.tool.risk == "critical"

# The step-up list of SCENARIOS.md (external email, production data, money,
# permissions, ...): data.actiongate.step_up[server][tool] is the category.
# Applies whatever the tier.
approval_reasons contains concat(":", ["approval_required:step_up", category]) if {
	category := data.actiongate.step_up[input.server.id][input.tool.name]
}

# Destructive tools for constrained agents (tier <= 2), unless
# data.actiongate.autonomous_tools[server][tool] lists the tool: that entry
# says, explicitly and auditably, that argument rules govern it instead.
approval_reasons contains "approval_required:destructive" if {
	input.tool.annotations.destructiveHint == true
	input.agent.tier <= 2
	not autonomous
}

# No reference price: the notional cannot be bounded, so a person decides.
approval_reasons contains "approval_required:unpriced_instrument" if {
	input.tool.name == "place_trade"
	input.server.id == "trading"
	valid_trade
	not price_cents
}

# Over the notional limit, or no limit configured at all.
approval_reasons contains "approval_required:trade_over_limit" if {
	input.tool.name == "place_trade"
	input.server.id == "trading"
	valid_trade
	price_cents
	not within_limit
}

# ---------------------------------------------------------------------------
# Why an allowed call was allowed, so that replay can answer that question.

allow_reasons contains "allow:read_only" if read_only

allow_reasons contains "allow:trade_within_limit" if {
	input.tool.name == "place_trade"
	input.server.id == "trading"
	within_limit
}

allow_reasons contains "allow:within_tier_autonomy" if {
	not read_only
	not is_trade
}

# ---------------------------------------------------------------------------
# Obligations: what the gateway must do if the call proceeds.

# Restricted data (PHI, for one): audit the full call, not just its outline.
obligations["audit_detail"] := "full" if input.server.classification == "restricted"
