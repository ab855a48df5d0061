package gateway

// Log attribute keys. Values logged under them never hold a secret: the
// token, the Authorization header and URL queries are not logged at all.
const (
	keyComponent = "component"
	keyRemote    = "remote"
	keyMethod    = "method"
	keyPath      = "path"
	keyStatus    = "status"
	keyDuration  = "duration"
	keyErr       = "err"
	keyUntil     = "until"
	keyFailures  = "failures"
	keyClient    = "client"
	keyVersion   = "version"
	keyAddr      = "addr"
	keyRPC       = "rpc"
)
