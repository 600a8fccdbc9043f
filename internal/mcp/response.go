package mcp

import (
	"encoding/json"
	"strconv"
)

// JSON-RPC and MCP error codes the gateway emits. Gateway-specific codes sit
// outside -32768..-32000 as MCP 2026-07-28 asks of new application codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603

	// MCP 2026-07-28: mirror headers disagree with the body, and a
	// protocol revision the receiver does not support.
	CodeHeaderMismatch             = -32020
	CodeUnsupportedProtocolVersion = -32022

	// CodePolicyDenied: the gateway refused the call (registry, authorization
	// or policy). error.data carries the reason code and decision id.
	CodePolicyDenied = -31001
	// CodeGatewayError: the gateway could not decide or could not process the
	// response; the call did not (or may not have) happened. Fail closed.
	CodeGatewayError = -31002
)

// ErrorData is the error.data object of every gateway JSON-RPC error. Only
// fields safe to show an agent belong here: never internal error text.
type ErrorData struct {
	Reason     string `json:"reason"`
	DecisionID string `json:"decisionId,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

type rpcError struct {
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Data    *ErrorData `json:"data,omitempty"`
}

type errorEnvelope struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Error   rpcError        `json:"error"`
}

type textContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type toolResult struct {
	Content []textContent `json:"content"`
	IsError bool          `json:"isError"`
	Meta    *ErrorData    `json:"_meta,omitempty"`
}

type resultEnvelope struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  toolResult      `json:"result"`
}

// ErrorBody returns a JSON-RPC 2.0 error response. id is the request id as it
// appeared on the wire (a JSON string or number), echoed byte for byte; nil
// or empty id yields an id-less error, which JSON-RPC allows when the request
// id could not be read.
func ErrorBody(id json.RawMessage, code int, message string, data *ErrorData) []byte {
	env := errorEnvelope{JSONRPC: "2.0", Error: rpcError{Code: code, Message: message, Data: data}}
	if len(id) > 0 {
		env.ID = id
	} else {
		env.ID = json.RawMessage("null")
	}
	b, err := json.Marshal(env)
	if err != nil {
		// Only an invalid raw id can fail; answer without it rather than not at all.
		return ErrorBody(nil, code, message, data)
	}
	return b
}

// ToolErrorBody returns a successful JSON-RPC response whose tools/call
// result has isError set: the form a model sees and can adapt to, which MCP
// clients surface without failing the connection.
func ToolErrorBody(id json.RawMessage, text string, data *ErrorData) []byte {
	b, err := json.Marshal(resultEnvelope{
		JSONRPC: "2.0",
		ID:      id,
		Result:  toolResult{Content: []textContent{{Type: "text", Text: text}}, IsError: true, Meta: data},
	})
	if err != nil {
		return ErrorBody(nil, CodePolicyDenied, text, data)
	}
	return b
}

// IDString renders a raw JSON-RPC id for logs: strings unquoted, numbers as is.
func IDString(id json.RawMessage) string {
	if s, err := strconv.Unquote(string(id)); err == nil {
		return s
	}
	return string(id)
}
