// Package egress owns outbound HTTP for the tools that run inside the
// gateway (web_fetch, web_search): a [Client] that reaches the public
// internet and nothing else.
//
// The guard sits where it cannot be talked around: at dial time, on the
// address actually connected to. The client's dialer resolves the host
// itself, refuses the connection if any resolved address is loopback,
// private, link-local, cloud metadata or otherwise special-purpose
// ([Check]), and then dials the checked address, never the name again, so
// the check holds after DNS, against DNS rebinding, and on every redirect.
// URLs are checked too ([CheckURL]): http and https only, no user
// information, no numeric host names in the legacy forms (2130706433,
// 0x7f.1) that resolvers read as addresses. The environment's proxy is
// never used.
//
// The owner may re-open private networks (Options.AllowPrivate, from
// tools.web.fetch.allowPrivate) or one named host (Options.AllowHosts, for
// a SearXNG on the LAN); link-local and metadata addresses stay refused
// whatever they say.
//
// Tools import this package; it imports nothing of Gatehouse's.
package egress
