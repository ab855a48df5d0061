// Package store owns Gatehouse's SQLite database (through the pure-Go
// modernc.org/sqlite driver): opening it with safe connection settings, the
// embedded schema migrations, integrity checks, and the tables that later
// work adds (sessions, transcripts, inbox and outbox, pairing, devices,
// usage, audit events).
//
// It imports nothing of Gatehouse's. Only domain packages and the gateway's
// wiring may import it; the CLI reaches the data through the gateway, except
// for offline checks such as Check in gatehouse doctor.
package store
