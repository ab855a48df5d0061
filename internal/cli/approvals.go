package cli

import (
	"encoding/json"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/rpc"
	"gatehouse/internal/tool"
)

func newApprovalsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "Approve or deny elevated commands the agent asked to run on the host",
		Long: `With tools.elevated.enabled, an allowed sender may ask the agent to run a
command on the host instead of in the sandbox. Each such command waits for
the owner: the approval covers exactly that argv, run by that executable in
that directory, once. Pending commands live in the running gateway only and
expire after tools.elevated.approvalTimeoutSeconds.`,
		Example: `  gatehouse approvals list
  gatehouse approvals approve K3QF7ZLM2A
  gatehouse approvals deny K3QF7ZLM2A`,
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List elevated commands waiting for approval",
		Example: "  gatehouse approvals list --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Pending []tool.ApprovalRequest `json:"pending"`
			}
			if err := e.call(cmd.Context(), rpc.MethodApprovalsList, nil, &res); err != nil {
				return err
			}
			if res.Pending == nil {
				res.Pending = []tool.ApprovalRequest{}
			}
			if e.json {
				return e.printJSON(res)
			}
			if len(res.Pending) == 0 {
				e.printf("no elevated command is waiting\n")
			}
			for _, r := range res.Pending {
				argv, _ := json.Marshal(r.Argv)
				e.printf("%s  %s\n    executable %s\n    directory  %s\n    from %s %s, session %s, expires %s UTC, digest %s\n",
					r.ID, argv, r.Executable, r.Dir, r.Channel, r.SenderID, r.SessionKey, r.Expires.UTC().Format("15:04:05"), r.Digest[:16])
			}
			return nil
		},
	}
	decide := func(approve bool) *cobra.Command {
		verb, done, short := "deny", "denied", "Refuse an elevated command"
		if approve {
			verb, done, short = "approve", "approved", "Run one elevated command, exactly as listed"
		}
		var digest string
		c := &cobra.Command{
			Use:     verb + " ID",
			Short:   short,
			Example: "  gatehouse approvals " + verb + " K3QF7ZLM2A --digest 9f2c01ab",
			Args:    exactArgs(1, "the ID shown by gatehouse approvals list"),
			RunE: func(cmd *cobra.Command, args []string) error {
				var res struct {
					Decided  tool.ApprovalRequest `json:"decided"`
					Approved bool                 `json:"approved"`
				}
				p := rpc.ApprovalsDecideParams{ID: strings.TrimSpace(args[0]), Digest: digest, Approve: approve}
				if err := e.call(cmd.Context(), rpc.MethodApprovalsDecide, p, &res); err != nil {
					return err
				}
				if e.json {
					return e.printJSON(res)
				}
				argv, _ := json.Marshal(res.Decided.Argv)
				e.printf("%s %s: %s in %s\n", done, res.Decided.ID, argv, res.Decided.Dir)
				return nil
			},
		}
		c.Flags().StringVar(&digest, "digest", "", "refuse unless the command's digest starts with this (from approvals list)")
		return c
	}
	cmd.AddCommand(list, decide(true), decide(false))
	return cmd
}
