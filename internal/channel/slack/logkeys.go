package slack

// Log attribute keys.
const (
	logKeyComponent = "component"
	logKeyAccount   = "account"
	logKeyBot       = "bot"
	logKeyTeam      = "team"
	logKeyEnvelope  = "envelope_id"
	logKeyMessage   = "message_id"
	logKeyAttempt   = "retry_attempt"
	logKeyReason    = "reason"
	logKeyRequest   = "request"
	logKeyRetryIn   = "retry_in"
	logKeyError     = "err"
)
