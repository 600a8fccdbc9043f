package mcp

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Problem classifies why a request was refused. Each has a stable string so
// it can be a reason code in a decision and an audit event.
type Problem string

// Problems of the HTTP request around the body (ParseRequest only).
const (
	ProblemHTTPMethod         Problem = "http_method_not_allowed"
	ProblemTruncated          Problem = "body_truncated"
	ProblemContentType        Problem = "unsupported_content_type"
	ProblemContentEncoding    Problem = "unsupported_content_encoding"
	ProblemUnsupportedVersion Problem = "unsupported_protocol_version"
	ProblemHeaderMismatch     Problem = "header_mismatch"
)

// Problems of the body as JSON.
const (
	ProblemEmpty        Problem = "empty_body"
	ProblemTooLarge     Problem = "body_too_large"
	ProblemBOM          Problem = "byte_order_mark"
	ProblemInvalidUTF8  Problem = "invalid_utf8"
	ProblemSyntax       Problem = "invalid_json"
	ProblemTrailingData Problem = "trailing_data"
	ProblemDuplicateKey Problem = "duplicate_key"
	ProblemTooDeep      Problem = "too_deep"
)

// Problems of the body as a JSON-RPC / MCP message.
const (
	ProblemBatch       Problem = "batch_not_supported"
	ProblemNotObject   Problem = "not_an_object"
	ProblemCaseVariant Problem = "key_case_variant"
	ProblemVersion     Problem = "jsonrpc_version"
	ProblemID          Problem = "invalid_id"
	ProblemMethod      Problem = "invalid_method"
	ProblemParams      Problem = "invalid_params"
	ProblemToolName    Problem = "invalid_tool_name"
)

// HTTPStatus is the status a refusal for this problem should carry: the
// statuses MCP mandates (400 for header mismatch and unsupported version)
// and the HTTP ones for transport problems.
func (p Problem) HTTPStatus() int {
	switch p {
	case ProblemHTTPMethod:
		return 405
	case ProblemTooLarge, ProblemTruncated:
		return 413
	case ProblemContentType, ProblemContentEncoding:
		return 415
	}
	return 400
}

// JSONRPCCode is the JSON-RPC error code for a refusal for this problem.
func (p Problem) JSONRPCCode() int {
	switch p {
	case ProblemEmpty, ProblemTooLarge, ProblemTruncated, ProblemBOM, ProblemInvalidUTF8,
		ProblemSyntax, ProblemTrailingData, ProblemDuplicateKey, ProblemTooDeep:
		return CodeParseError
	case ProblemHeaderMismatch:
		return CodeHeaderMismatch
	case ProblemUnsupportedVersion:
		return CodeUnsupportedProtocolVersion
	case ProblemParams, ProblemToolName:
		return CodeInvalidParams
	}
	return CodeInvalidRequest
}

// ParseError is a request the gateway refuses to interpret.
type ParseError struct {
	Problem Problem
	// Detail is safe to show the client: it describes the request, quotes
	// at most 64 bytes of anything the client sent, and says nothing of us.
	Detail string
	// ID is the JSON-RPC id when the body was read completely before the
	// problem was found (header and version problems), so the refusal can
	// echo it; nil otherwise.
	ID json.RawMessage
}

func (e *ParseError) Error() string { return string(e.Problem) + ": " + e.Detail }

func perr(p Problem, format string, args ...any) *ParseError {
	return &ParseError{Problem: p, Detail: fmt.Sprintf(format, args...)}
}

// IsParseError reports whether err is a *ParseError and returns it.
func IsParseError(err error) (*ParseError, bool) {
	var pe *ParseError
	ok := errors.As(err, &pe)
	return pe, ok
}
