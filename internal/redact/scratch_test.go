package redact

import (
	"fmt"
	"testing"
	"time"
)

func TestScratchCosts(t *testing.T) {
	big, _ := NewPolicy(Config{Budget: Budget{Base: 1 << 40}, MaxPhoneValidations: 1 << 30})
	in := adversarial()
	d, _ := detectDefault()
	in["stuffed-all"] = stuffedAll(d)
	in["clean"] = cleanText()
	for _, name := range []string{"many-secrets", "stuffed-all", "pem-headers", "jwt-shaped", "url-userinfo", "dots", "clean"} {
		s := in[name]
		var sc *scanner
		n := 5
		st := time.Now()
		for i := 0; i < n; i++ {
			sc = newScanner(big, newBudget(big))
			sc.writeAll(s)
		}
		el := time.Since(st) / time.Duration(n)
		fmt.Printf("%-14s %9v regex=%9d pre=%8d findings=%d  ns/unit=%.2f\n", name, el, sc.bud.used, sc.bud.preUsed, len(sc.findings), float64(el.Nanoseconds())/float64(sc.bud.used+sc.bud.preUsed+1))
	}
}

func BenchmarkScratchMany(b *testing.B) {
	big, _ := NewPolicy(Config{Budget: Budget{Base: 1 << 40}, MaxPhoneValidations: 1 << 30})
	s := adversarial()["many-secrets"]
	for i := 0; i < b.N; i++ {
		big.RedactText(s)
	}
}
