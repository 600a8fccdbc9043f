package demo

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const getQuoteSchema = `{"type":"object","properties":{"symbol":{"type":"string","pattern":"^[A-Z][A-Z0-9.]{0,9}$","description":"Instrument ticker symbol, e.g. ACME."}},"required":["symbol"],"additionalProperties":false}`

const placeTradeSchema = `{"type":"object","properties":{"symbol":{"type":"string","pattern":"^[A-Z][A-Z0-9.]{0,9}$","description":"Instrument ticker symbol, e.g. ACME."},"side":{"type":"string","enum":["buy","sell"],"description":"Order side."},"quantity":{"type":"integer","minimum":1,"maximum":1000000,"description":"Number of shares."},"account":{"type":"string","minLength":1,"maxLength":64,"description":"Trading account to book the order in."}},"required":["symbol","side","quantity","account"],"additionalProperties":false}`

const listPositionsSchema = `{"type":"object","properties":{},"additionalProperties":false}`

func tradingTools() []toolDef {
	desk := &tradingDesk{}
	return []toolDef{
		{
			name:        "get_quote",
			title:       "Get quote",
			description: "Get the current price of an instrument, in USD.",
			schema:      getQuoteSchema,
			readOnly:    true,
			openWorld:   true,
			register:    func(s *mcp.Server, t *mcp.Tool) { mcp.AddTool(s, t, getQuote) },
		},
		{
			name:        "place_trade",
			title:       "Place trade",
			description: "Place a market order to buy or sell an instrument in a trading account.",
			schema:      placeTradeSchema,
			destructive: true,
			openWorld:   true,
			register:    func(s *mcp.Server, t *mcp.Tool) { mcp.AddTool(s, t, desk.placeTrade) },
		},
		{
			name:        "list_positions",
			title:       "List positions",
			description: "List the open positions of the trading desk.",
			schema:      listPositionsSchema,
			readOnly:    true,
			idempotent:  true,
			register:    func(s *mcp.Server, t *mcp.Tool) { mcp.AddTool(s, t, listPositions) },
		},
	}
}

// priceCents is a deterministic fake price between 10.00 and 999.99 so that
// tests and policies (e.g. a notional limit) can predict it.
func priceCents(symbol string) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(symbol))
	return 1000 + int64(h.Sum32()%99000)
}

func usd(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

type getQuoteIn struct {
	Symbol string `json:"symbol"`
}

func getQuote(_ context.Context, _ *mcp.CallToolRequest, in getQuoteIn) (*mcp.CallToolResult, any, error) {
	return text("%s last price %s USD", in.Symbol, usd(priceCents(in.Symbol))), nil, nil
}

type placeTradeIn struct {
	Symbol   string `json:"symbol"`
	Side     string `json:"side"`
	Quantity int64  `json:"quantity"`
	Account  string `json:"account"`
}

// tradingDesk numbers orders per server instance.
type tradingDesk struct{ orders atomic.Int64 }

func (d *tradingDesk) placeTrade(_ context.Context, _ *mcp.CallToolRequest, in placeTradeIn) (*mcp.CallToolResult, any, error) {
	// The schema already bounds these; re-checking keeps the handler safe if
	// it is ever called without the SDK's validation.
	if in.Quantity < 1 || (in.Side != "buy" && in.Side != "sell") {
		return toolError("invalid order: side must be buy or sell and quantity at least 1"), nil, nil
	}
	price := priceCents(in.Symbol)
	id := d.orders.Add(1)
	return text("order ORD-%06d accepted: %s %d %s at %s USD (notional %s USD) for account %s",
		id, in.Side, in.Quantity, in.Symbol, usd(price), usd(price*in.Quantity), in.Account), nil, nil
}

var positions = map[string]int64{"ACME": 1200, "GLOBX": 350, "INITECH": 75}

func listPositions(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
	var b strings.Builder
	b.WriteString("Open positions:\n")
	for _, sym := range sortedKeys(positions) {
		fmt.Fprintf(&b, "- %s: %d shares @ %s USD\n", sym, positions[sym], usd(priceCents(sym)))
	}
	return text("%s", strings.TrimSuffix(b.String(), "\n")), nil, nil
}
