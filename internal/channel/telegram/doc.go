// Package telegram is the Telegram channel: an adapter for the Bot API
// (https://core.telegram.org/bots/api) that receives with getUpdates long
// polling and sends plain text with sendMessage.
//
// It is written on net/http rather than a client library: the adapter must
// acknowledge an update (advance the getUpdates offset) only after the
// inbox committed it, must keep the token, which the Bot API puts in every
// URL, out of every error, and must read Telegram's error JSON (429
// retry_after, 401) as well as the bare HTTP 500 test servers answer.
// github.com/go-telegram/bot v1.17.0 advances the offset before its
// handlers run, posts multipart forms, and returns *url.Error text, URL and
// token included.
//
// Only the gateway's wiring imports it.
package telegram
