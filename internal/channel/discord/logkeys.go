package discord

// Log attribute keys.
const (
	logKeyComponent = "component"
	logKeyAccount   = "account"
	logKeyBot       = "bot"
	logKeyMessage   = "message_id"
	logKeyRequest   = "request"
	logKeyRetryIn   = "retry_in"
	logKeyResumed   = "resumed"
	logKeyError     = "err"
)
