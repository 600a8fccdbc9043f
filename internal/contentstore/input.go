package contentstore

import (
	"fmt"
	"math/big"
	"strconv"

	"github.com/gowebpki/jcs"
)

// RecordInput stores one decision's policy input document (policy.Input.JSON)
// and returns its address, "sha256:<hex>" of the RFC 8785 form: the
// audit event's inputHash. The document holds the tool arguments, so it
// stays in the store (0600) and never goes to Kafka.
//
// A document whose numbers RFC 8785 cannot keep exactly (more digits than
// an IEEE double holds, e.g. 12345678901234567890) is refused: the policy
// judged the exact value, and a record of a rounded one would replay a
// different call. extauthz then denies a mutating call (audit_unavailable)
// and records other decisions without an input hash.
func (s *Store) RecordInput(doc []byte) (string, error) {
	return s.Put(KindInput, doc)
}

// LoadInput returns the input document at addr, verified.
func (s *Store) LoadInput(addr string) ([]byte, error) {
	return s.Get(KindInput, addr)
}

// InputAddress is the address RecordInput would give doc, without storing.
func InputAddress(doc []byte) (string, error) {
	canon, err := canonicalInput(doc)
	if err != nil {
		return "", err
	}
	return sha256Address(canon), nil
}

func canonicalInput(doc []byte) ([]byte, error) {
	canon, err := jcs.Transform(doc)
	if err != nil {
		return nil, fmt.Errorf("policy input is not I-JSON: %w", err)
	}
	if err := exactNumbers(doc); err != nil {
		return nil, fmt.Errorf("policy input: %w", err)
	}
	return canon, nil
}

// exactNumbers checks that every number RFC 8785 would rewrite keeps its
// value. Only long numbers and exponents can lose it (a decimal of at most
// 15 significant digits survives a round trip through a double), so the
// common document costs one scan.
func exactNumbers(doc []byte) error {
	inString, escaped := false, false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		if c != '-' && (c < '0' || c > '9') {
			continue
		}
		j, exp := i, false
		for j < len(doc) && isNumberByte(doc[j]) {
			exp = exp || doc[j] == 'e' || doc[j] == 'E'
			j++
		}
		if tok := string(doc[i:j]); j-i > 15 || exp {
			if err := exactNumber(tok); err != nil {
				return err
			}
		}
		i = j - 1
	}
	return nil
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func exactNumber(tok string) error {
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil {
		return fmt.Errorf("number %s: %w", tok, err)
	}
	canon, err := jcs.NumberToJSON(f)
	if err != nil {
		return fmt.Errorf("number %s: %w", tok, err)
	}
	want, ok1 := new(big.Rat).SetString(tok)
	got, ok2 := new(big.Rat).SetString(canon)
	if !ok1 || !ok2 || want.Cmp(got) != 0 {
		return fmt.Errorf("number %s would be recorded as %s (beyond IEEE double precision)", tok, canon)
	}
	return nil
}
