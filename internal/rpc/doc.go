// Package rpc is the wire protocol of the gateway's WebSocket RPC and the one
// client that speaks it.
//
// Every message is a JSON text frame (see [Frame]): a request ("req") carries
// an id, a method and params; a response ("res") echoes the id and carries
// either a payload or an [Error]; an event ("event") carries a name, a payload
// and a per-connection sequence number.
//
// A connection starts with a challenge. The gateway sends the event
// "connect.challenge" with a fresh nonce; the client answers with the request
// "connect" whose auth proof is hex(HMAC-SHA256(key=token, msg=nonce)), so the
// token itself never crosses the socket. Only then are other methods served.
//
// The CLI uses [Dial] and [Client] and branches on the typed errors
// ([*NotRunningError], [*AuthError], [*LockedOutError], [*Error]). The
// gateway uses [DecodeFrame] and the message types. Package rpc imports
// nothing of Gatehouse's.
package rpc
