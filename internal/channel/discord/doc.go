// Package discord is the Discord channel: an adapter that receives messages
// over the Gateway (a WebSocket: HELLO, IDENTIFY or RESUME, heartbeats,
// MESSAGE_CREATE dispatches) and sends plain text with the HTTP API
// (POST /channels/{id}/messages), per
// https://discord.com/developers/docs/events/gateway and
// https://discord.com/developers/docs/resources/message.
//
// It is written on net/http and github.com/coder/websocket rather than
// github.com/bwmarrin/discordgo v0.29.0, whose REST and gateway addresses
// are package-level variables (EndpointAPI, EndpointChannels, … computed at
// init), so pointing one Session at a test server means changing them for
// the whole process. discordgo also starts goroutines nobody waits for
// (listen, heartbeat, reconnect, one per event handler), reconnects for
// ever after close codes 4004 and 4014 instead of reporting them, records a
// dispatch's sequence number before any handler ran (so a RESUME can skip a
// message the inbox never recorded), ignores resume_gateway_url, sleeps
// inside a request on 429 instead of returning the wait, and logs through a
// package-level function. Here the sequence number a RESUME and a heartbeat
// send advances past a message only once the sink returned nil for it.
//
// Only the gateway's wiring imports it.
package discord
