package telegram

// Log attribute keys.
const (
	logKeyComponent = "component"
	logKeyAccount   = "account"
	logKeyBot       = "bot"
	logKeyUpdate    = "update_id"
	logKeyRequest   = "request"
	logKeyRetryIn   = "retry_in"
	logKeyError     = "err"
)
