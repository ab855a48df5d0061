package egress

// Log attribute keys.
const (
	keyComponent = "component"
	keyURL       = "url"
	keyHost      = "host"
	keyStatus    = "status"
	keyBytes     = "bytes"
	keyTruncated = "truncated"
	keyRedirect  = "redirect"
	keyClass     = "class"
	keyErr       = "err"
)
