package channel

// Log attribute keys.
const (
	logKeyChannel  = "channel"
	logKeyAccount  = "account"
	logKeyChat     = "chat"
	logKeyOutboxID = "outbox_id"
	logKeyAttempts = "attempts"
	logKeyError    = "err"
	logKeyRetryIn  = "retry_in"
	logKeyRequest  = "request"
)
