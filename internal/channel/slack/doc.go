// Package slack is the Slack channel: an adapter for a Slack app that
// receives events over Socket Mode (https://api.slack.com/apis/socket-mode)
// with an app-level token and sends with the Web API's chat.postMessage
// with the bot token.
//
// It is written on net/http and github.com/coder/websocket (the gateway's
// WebSocket library) rather than on github.com/slack-go/slack, which the
// tests use only for its slacktest server. The adapter must acknowledge an
// envelope only after the inbox committed its message, must stop with an
// error that says what to do when either token is refused, must keep both
// tokens and the connection ticket out of every error and log, and must own
// every goroutine it starts. slack-go's socketmode v0.35.0 does not wait
// for its WebSocket reader goroutine before RunContext returns, retries a
// bot token given as the app token (not_allowed_token_type) for ever, and
// brings a second WebSocket library; with the slack package it would add
// about 2 MB to the stripped gatehouse binary for three Web API calls,
// where this package adds about 50 KB. TestDeps keeps it that way.
//
// Only the gateway's wiring imports it.
package slack
