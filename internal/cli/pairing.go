package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/access"
	"gatehouse/internal/store"
)

// withGate opens the database and the access gate for one command. The
// gateway may run meanwhile: SQLite in WAL mode serves both.
func (e *env) withGate(ctx context.Context, fn func(g *access.Gate) error) error {
	d, err := e.dir()
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, d.Database())
	if err != nil {
		return err
	}
	defer db.Close()
	g, err := access.New(db, access.Options{})
	if err != nil {
		return err
	}
	return fn(g)
}

func newPairingCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pairing",
		Short: "Approve or refuse the people who asked to talk to the agent",
		Long: `Under dmPolicy pairing (the default), a stranger who writes to the bot gets
an 8-character code and nothing they wrote reaches the agent. Approving the
code lets that sender talk to the agent; the first approved sender of a
channel becomes its owner. Codes expire after an hour.`,
		Example: `  gatehouse pairing list telegram
  gatehouse pairing approve telegram ABCD2345
  gatehouse pairing revoke telegram 123456789`,
	}
	list := &cobra.Command{
		Use:     "list [CHANNEL]",
		Short:   "List pending pairing requests and approved senders",
		Example: "  gatehouse pairing list telegram --json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			channel := ""
			if len(args) == 1 {
				channel = args[0]
			}
			return e.withGate(cmd.Context(), func(g *access.Gate) error {
				pending, err := g.Pending(cmd.Context(), channel)
				if err != nil {
					return err
				}
				var allowed []access.AllowedSender
				channels := knownChannels
				if channel != "" {
					channels = []string{channel}
				}
				for _, c := range channels {
					a, err := g.Allowed(cmd.Context(), c)
					if err != nil {
						return err
					}
					allowed = append(allowed, a...)
				}
				if pending == nil {
					pending = []access.PendingRequest{}
				}
				if allowed == nil {
					allowed = []access.AllowedSender{}
				}
				if e.json {
					return e.printJSON(map[string]any{"pending": pending, "allowed": allowed})
				}
				if len(pending) == 0 {
					e.printf("no pending pairing requests\n")
				}
				for _, p := range pending {
					e.printf("pending  %-9s code %s  sender %s  expires %s\n", p.Channel, p.Code, p.SenderID, p.ExpiresAt.UTC().Format("15:04 UTC"))
				}
				for _, a := range allowed {
					role := ""
					if a.Owner {
						role = " (owner)"
					}
					e.printf("allowed  %-9s sender %s%s\n", a.Channel, a.SenderID, role)
				}
				return nil
			})
		},
	}
	approve := &cobra.Command{
		Use:     "approve CHANNEL CODE",
		Short:   "Let the sender of a pairing code talk to the agent",
		Example: "  gatehouse pairing approve telegram ABCD2345",
		Args:    exactArgs(2, "CHANNEL and CODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withGate(cmd.Context(), func(g *access.Gate) error {
				a, err := g.Approve(cmd.Context(), args[0], strings.TrimSpace(args[1]))
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(a)
				}
				role := ""
				if a.Owner {
					role = " as the owner"
				}
				e.printf("approved %s sender %s%s\n", a.Channel, a.SenderID, role)
				return nil
			})
		},
	}
	reject := &cobra.Command{
		Use:     "reject CHANNEL CODE",
		Short:   "Refuse a pairing request",
		Example: "  gatehouse pairing reject telegram ABCD2345",
		Args:    exactArgs(2, "CHANNEL and CODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withGate(cmd.Context(), func(g *access.Gate) error {
				p, err := g.Reject(cmd.Context(), args[0], strings.TrimSpace(args[1]))
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(p)
				}
				e.printf("rejected %s sender %s\n", p.Channel, p.SenderID)
				return nil
			})
		},
	}
	revoke := &cobra.Command{
		Use:     "revoke CHANNEL SENDER",
		Short:   "Withdraw an approved sender's access",
		Example: "  gatehouse pairing revoke telegram 123456789",
		Args:    exactArgs(2, "CHANNEL and SENDER id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withGate(cmd.Context(), func(g *access.Gate) error {
				if err := g.Revoke(cmd.Context(), args[0], args[1]); err != nil {
					return err
				}
				if e.json {
					return e.printJSON(map[string]any{"revoked": args[1], "channel": args[0]})
				}
				e.printf("revoked %s sender %s\n", args[0], args[1])
				return nil
			})
		},
	}
	cmd.AddCommand(list, approve, reject, revoke)
	return cmd
}
