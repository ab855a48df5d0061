// Package webtool owns the web tools the agent runs inside the gateway:
// web_fetch ([Fetch]), which reads one page as markdown or plain text, and
// web_search ([Search]), which asks Brave, Tavily or a SearXNG instance.
//
// Both reach the network only through an [egress.Client], so every
// connection, redirects included, is checked at dial time against
// loopback, private, link-local and cloud metadata addresses. What they
// return is untrusted web content; the agent fences it as such. The search
// provider's API key travels in a request header only: never in a URL, a
// log line, an error or a result.
//
// [FromConfig] builds both from tools.web.
package webtool
