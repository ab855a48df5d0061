package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/rpc"
)

func newAgentCmd(e *env) *cobra.Command {
	var message, session string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Send one message to the agent through the running gateway",
		Long: `Run one agent turn through the running gateway, as the owner, and stream
the reply to the terminal. The turn uses the owner's CLI session unless
--session names another (see gatehouse sessions list). Chat commands work
here too: /new, /reset, /status, /stop.`,
		Example: `  gatehouse agent --message "What model are you running?"
  gatehouse agent -m "/status"
  gatehouse agent -m "Summarise my notes" --session agent:main:cli:dm:owner --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(message) == "" {
				return usageErrorf("--message is required")
			}
			ctx := cmd.Context()
			c, _, err := e.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			runID := fmt.Sprintf("run_cli_%d", time.Now().UnixNano())
			printed := make(chan struct{})
			var sawDelta atomic.Bool
			go func() {
				defer close(printed)
				for ev := range c.Events() {
					switch ev.Event {
					case rpc.EventChatDelta:
						var d rpc.ChatDelta
						if json.Unmarshal(ev.Payload, &d) == nil && d.RunID == runID && !e.json {
							sawDelta.Store(true)
							e.printf("%s", d.Delta)
						}
					case rpc.EventChatFinal:
						var f rpc.ChatFinal
						if json.Unmarshal(ev.Payload, &f) == nil && f.RunID == runID {
							return
						}
					}
				}
			}()
			var final rpc.ChatFinal
			err = c.Call(ctx, rpc.MethodChatSend, rpc.ChatSendParams{Message: message, SessionKey: session, RunID: runID}, &final)
			if err != nil {
				c.Close()
				<-printed
				return explainAgentError(err)
			}
			select {
			case <-printed:
			case <-time.After(5 * time.Second):
			}
			if e.json {
				return e.printJSON(final)
			}
			if final.Text != "" && !sawDelta.Load() {
				e.printf("%s", final.Text)
			}
			e.printf("\n")
			return nil
		},
	}
	cmd.Flags().StringVarP(&message, "message", "m", "", "the message to send")
	cmd.Flags().StringVar(&session, "session", "", "session key (default: the owner's CLI session)")
	return cmd
}

// explainAgentError adds what to do to the agent's error codes.
func explainAgentError(err error) error {
	var re *rpc.Error
	if errors.As(err, &re) {
		switch re.Code {
		case rpc.CodeNoModel, rpc.CodeBudgetExhausted:
			return errors.New(re.Message)
		case rpc.CodeModelError:
			return fmt.Errorf("%s (gatehouse models status shows each provider's state)", re.Message)
		}
	}
	return err
}

func newSessionsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List, show and reset conversation sessions",
		Example: `  gatehouse sessions list
  gatehouse sessions show agent:main:cli:dm:owner
  gatehouse sessions reset agent:main:telegram:dm:123456`,
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List sessions with their message counts and today's usage",
		Example: "  gatehouse sessions list --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Sessions []map[string]any `json:"sessions"`
			}
			if err := e.call(cmd.Context(), rpc.MethodSessionsList, nil, &res); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(res)
			}
			if len(res.Sessions) == 0 {
				e.printf("no sessions yet\n")
				return nil
			}
			for _, s := range res.Sessions {
				e.printf("%s  %v messages  updated %v\n", s["key"], s["messages"], s["updatedAt"])
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use:     "show KEY",
		Short:   "Show a session's transcript (redacted)",
		Example: "  gatehouse sessions show agent:main:cli:dm:owner",
		Args:    exactArgs(1, "the session KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res map[string]any
			if err := e.call(cmd.Context(), rpc.MethodSessionsShow, rpc.SessionKeyParams{Key: args[0]}, &res); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(res)
			}
			msgs, _ := res["messages"].([]any)
			e.printf("session %s (%d messages)\n", args[0], len(msgs))
			for _, m := range msgs {
				mm, _ := m.(map[string]any)
				role, _ := mm["role"].(string)
				text, _ := mm["text"].(string)
				if text == "" {
					text, _ = mm["content"].(string)
				}
				if tn, _ := mm["toolName"].(string); tn != "" {
					role += "(" + tn + ")"
				}
				e.printf("\n[%s] %s\n", role, text)
			}
			return nil
		},
	}
	reset := &cobra.Command{
		Use:     "reset KEY",
		Short:   "Forget a session's history",
		Example: "  gatehouse sessions reset agent:main:cli:dm:owner",
		Args:    exactArgs(1, "the session KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.call(cmd.Context(), rpc.MethodSessionsReset, rpc.SessionKeyParams{Key: args[0]}, nil); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"reset": args[0]})
			}
			e.printf("reset %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, show, reset)
	return cmd
}

func newUsageCmd(e *env) *cobra.Command {
	var day string
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show today's model spend, tokens and the budget left",
		Long: `Show the tokens and US dollars spent on models on a UTC day (today by
default), per provider and model, and what remains of the daily budget
(agents.defaults.budget.dailyUsd and dailyTokens).`,
		Example: `  gatehouse usage
  gatehouse usage --day 2026-11-21 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res map[string]any
			if err := e.call(cmd.Context(), rpc.MethodUsageGet, rpc.UsageParams{Day: day}, &res); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(res)
			}
			renderMap(e, res, "")
			return nil
		},
	}
	cmd.Flags().StringVar(&day, "day", "", "UTC day, YYYY-MM-DD (default today)")
	return cmd
}

// renderMap prints a JSON object as indented "key: value" lines.
func renderMap(e *env, m map[string]any, indent string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			e.printf("%s%s:\n", indent, k)
			renderMap(e, v, indent+"  ")
		case []any:
			e.printf("%s%s:\n", indent, k)
			for _, it := range v {
				if mm, ok := it.(map[string]any); ok {
					renderMap(e, mm, indent+"  - ")
				} else {
					e.printf("%s  - %v\n", indent, it)
				}
			}
		default:
			e.printf("%s%s: %v\n", indent, k, v)
		}
	}
}
