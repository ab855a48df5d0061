package agent

// Log attribute keys. Values logged under them are redacted by the
// gateway's handler; message text is never logged.
const (
	keyComponent = "component"
	keySession   = "session"
	keyTool      = "tool"
	keyModel     = "model"
	keyErr       = "err"
	keyRounds    = "rounds"
	keyLimit     = "limit"
	keySpent     = "spent"
	keyKind      = "kind"
	keyRemoved   = "removed"
	keyKept      = "kept"
	keyTokens    = "tokens"
	keyToolCalls = "toolCalls"
)
