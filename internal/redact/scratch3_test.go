package redact

import (
	"fmt"
	"testing"
	"time"
)

func TestScratchAlways(t *testing.T) {
	p := defaultPolicy(t)
	var r *secretRule
	for _, x := range p.rules.rules {
		if x.id == "generic-api-key" {
			r = x
		}
	}
	secret := []byte("abcdefghij0123")
	match := []byte("api_key=abcdefghij0123 ")
	line := []byte("api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 api_key=abcdefghij0123 ")
	for _, al := range append(append([]*allowlist{}, p.rules.global...), r.allow...) {
		target := al.pick(secret, match, line)
		run, cost := al.plan(target, nil)
		st := time.Now()
		for i := 0; i < 100; i++ {
			al.allows(run, secret, match, line)
		}
		fmt.Printf("target=%q branches=%d run=%v cost=%d actual=%v stop=%v\n", al.target, len(al.branches), run, cost, time.Since(st)/100, al.stopwords != nil)
		for _, b := range run {
			st := time.Now()
			for i := 0; i < 100; i++ {
				al.branches[b].re.Match(target)
			}
			fmt.Printf("    %v %.60s\n", time.Since(st)/100, al.branches[b].re.String())
		}
	}
}
