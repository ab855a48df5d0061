package llm

import (
	"strings"

	"gatehouse/internal/config"
)

// builtinPrices are list prices in US dollars per million tokens, as the
// vendors published them in late 2025, keyed by model id with dots
// written as dashes. A dated or suffixed id (claude-sonnet-4-5-20250929,
// gpt-4o-2024-08-06) takes the price of its longest key at a "-", "@" or
// ":" boundary, so siblings that cost differently (gpt-4o-mini under
// gpt-4o) need keys of their own. models.pricing overrides any of them.
//
// It is read-only.
var builtinPrices = map[string]config.Price{
	"gpt-4o":            {Input: 2.50, Output: 10.00, CacheRead: 1.25},
	"gpt-4o-mini":       {Input: 0.15, Output: 0.60, CacheRead: 0.075},
	"gpt-4-1":           {Input: 2.00, Output: 8.00, CacheRead: 0.50},
	"gpt-4-1-mini":      {Input: 0.40, Output: 1.60, CacheRead: 0.10},
	"gpt-4-1-nano":      {Input: 0.10, Output: 0.40, CacheRead: 0.025},
	"gpt-5":             {Input: 1.25, Output: 10.00, CacheRead: 0.125},
	"gpt-5-mini":        {Input: 0.25, Output: 2.00, CacheRead: 0.025},
	"gpt-5-nano":        {Input: 0.05, Output: 0.40, CacheRead: 0.005},
	"gpt-5-pro":         {Input: 15.00, Output: 120.00},
	"o3":                {Input: 2.00, Output: 8.00, CacheRead: 0.50},
	"o3-mini":           {Input: 1.10, Output: 4.40, CacheRead: 0.55},
	"o3-pro":            {Input: 20.00, Output: 80.00},
	"o4-mini":           {Input: 1.10, Output: 4.40, CacheRead: 0.275},
	"claude-sonnet-4-5": {Input: 3.00, Output: 15.00, CacheRead: 0.30, CacheWrite: 3.75},
	"claude-opus-4-1":   {Input: 15.00, Output: 75.00, CacheRead: 1.50, CacheWrite: 18.75},
	"claude-haiku-4-5":  {Input: 1.00, Output: 5.00, CacheRead: 0.10, CacheWrite: 1.25},
	"gemini-2-5-pro":    {Input: 1.25, Output: 10.00, CacheRead: 0.125},
	"gemini-2-5-flash":  {Input: 0.30, Output: 2.50, CacheRead: 0.03},
	// gemini-2.5-flash-lite would otherwise price as gemini-2.5-flash.
	"gemini-2-5-flash-lite": {Input: 0.10, Output: 0.40, CacheRead: 0.01},
}

// IsLocal reports whether provider names a server on the owner's machine
// (Ollama, LM Studio, vLLM, llama.cpp), whose models cost nothing and need
// no API key.
func IsLocal(provider string) bool {
	switch provider {
	case "ollama", "lmstudio", "vllm", "llamacpp":
		return true
	}
	return false
}

// normModel reduces a model id to the price table's form: lower case, no
// vendor path (OpenRouter's "anthropic/claude-sonnet-4.5"), dots as dashes.
func normModel(m string) string {
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	return strings.ReplaceAll(strings.ToLower(m), ".", "-")
}

// longestPrefix finds the longest key of table that is model or a prefix
// of it ending at a "-", "@" or ":" boundary, and returns its length (-1
// when none matches).
func longestPrefix(table map[string]config.Price, model string) (config.Price, int) {
	var (
		best  config.Price
		found = -1
	)
	for k, p := range table {
		if len(k) <= found || !strings.HasPrefix(model, k) {
			continue
		}
		if len(model) > len(k) && !strings.ContainsRune("-@:", rune(model[len(k)])) {
			continue
		}
		best, found = p, len(k)
	}
	return best, found
}

// PriceOf is the price Router.Cost uses for ref, given models.pricing,
// and whether it is known. It lets code without a Router (the CLI) report
// prices.
func PriceOf(pricing map[string]config.Price, ref Ref) (config.Price, bool) {
	return price(pricing, ref)
}

// price finds the price of ref: models.pricing exactly, else local
// providers (free) unless models.pricing prices them, else the longest
// matching key of models.pricing (for ref's provider) or of the built-in
// table, models.pricing winning a tie.
func price(overrides map[string]config.Price, ref Ref) (config.Price, bool) {
	if p, ok := overrides[ref.String()]; ok {
		return p, true
	}
	model := normModel(ref.Model)
	own := map[string]config.Price{}
	for k, p := range overrides {
		if r, err := ParseRef(k); err == nil && r.Provider == ref.Provider {
			own[normModel(r.Model)] = p
		}
	}
	po, lo := longestPrefix(own, model)
	if IsLocal(ref.Provider) {
		return po, true
	}
	pb, lb := longestPrefix(builtinPrices, model)
	switch {
	case lo >= 0 && lo >= lb:
		return po, true
	case lb >= 0:
		return pb, true
	}
	return config.Price{}, false
}

// cost is what u costs at p, in US dollars. Cache prices left at zero are
// taken to be unknown and charged at the input price, so an override that
// gives only input and output never undercounts.
func cost(p config.Price, u Usage) float64 {
	cr, cw := p.CacheRead, p.CacheWrite
	if cr == 0 {
		cr = p.Input
	}
	if cw == 0 {
		cw = p.Input
	}
	return (float64(u.InputTokens)*p.Input +
		float64(u.OutputTokens)*p.Output +
		float64(u.CacheReadTokens)*cr +
		float64(u.CacheWriteTokens)*cw) / 1e6
}
