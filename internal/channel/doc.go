// Package channel owns what every chat platform has in common: the Inbound
// and Outbound message types the router and the adapters meet in, the small
// Channel interface each adapter implements (one subpackage per platform:
// telegram, …), the Manager that keeps the configured channels running, and
// the durable inbox and outbox (Queue) that make replies exactly-once across
// crashes.
//
// Channels know nothing of agents: only the gateway's wiring (the router)
// and the adapters import this package. It imports nothing of Gatehouse's;
// its tables live in the store's migrations (0004_inbox.sql) and are reached
// through the *sql.DB the store hands out.
package channel
