package cli

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/store"
)

func newVerifyCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Run the seed guides' verification checklist on this host and gateway",
		Long: `Run the verification checklist of the seed deployment guides for this host
and this gateway: firewall, DOCKER-USER, service running, port binding,
systemd security score, the deep security audit, SOUL.md locked, channel
paired, Tailscale Funnel off, and the rows Gatehouse adds (loopback bind,
token, file permissions, channel policies, service user). Each row shows the
command or evidence, what is expected and PASS, FAIL or SKIP with the reason.
It changes nothing; run it with sudo to read the firewall.

Exits 1 when a row fails.`,
		Example: `  gatehouse verify
  sudo gatehouse verify --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runVerify(cmd.Context())
		},
	}
}

func (e *env) runVerify(ctx context.Context) error {
	d, err := e.dir()
	if err != nil {
		return err
	}
	senders := &approvedSenders{path: d.Database()}
	defer senders.close()
	cl, err := audit.Verify(ctx, audit.VerifyOptions{
		Options:         e.auditOptions(d),
		Version:         version,
		GatewayVersion:  e.gatewayVersion,
		ApprovedSenders: senders.count,
	})
	if err != nil {
		return err
	}
	if e.json {
		if err := e.printJSON(cl); err != nil {
			return err
		}
	} else {
		e.renderChecklist(cl)
	}
	if cl.Failed() {
		return &codeError{code: exitError}
	}
	return nil
}

// gatewayVersion asks the running gateway for its version.
func (e *env) gatewayVersion(ctx context.Context) (string, error) {
	var st struct {
		Version string `json:"version"`
	}
	if err := e.call(ctx, "status", nil, &st); err != nil {
		return "", err
	}
	return st.Version, nil
}

// approvedSenders reads the senders approved by pairing from the database,
// opened once, and only when it exists and belongs to the user running
// verify: opening it as root would leave root-owned journal files in a
// service user's state directory.
type approvedSenders struct {
	path string
	once sync.Once
	db   *store.DB
	gate *access.Gate
	err  error
}

func (s *approvedSenders) count(ctx context.Context, channel string) (int, error) {
	s.once.Do(func() {
		fi, err := os.Stat(s.path)
		if err != nil {
			s.err = fmt.Errorf("no database at %s", s.path)
			return
		}
		if uid, ok := ownerUID(fi); ok && uid != os.Geteuid() {
			s.err = fmt.Errorf("the database belongs to uid %d: run verify as that user to read the approved senders", uid)
			return
		}
		if s.db, s.err = store.Open(ctx, s.path); s.err != nil {
			return
		}
		s.gate, s.err = access.New(s.db, access.Options{})
	})
	if s.err != nil {
		return 0, s.err
	}
	list, err := s.gate.Allowed(ctx, channel)
	return len(list), err
}

func (s *approvedSenders) close() {
	if s.db != nil {
		s.db.Close()
	}
}

// renderChecklist prints the checklist as a table: result, check,
// expected, and the command with what it showed or why the row failed or
// was skipped.
func (e *env) renderChecklist(cl *audit.Checklist) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RESULT\tCHECK\tEXPECTED\tCOMMAND → EVIDENCE / REASON\n")
	for _, r := range cl.Rows {
		detail := r.Evidence
		if r.Reason != "" {
			detail = r.Reason
			if r.Evidence != "" {
				detail += " (saw: " + r.Evidence + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s → %s\n", r.Result, r.Check, r.Expected, r.Command, oneLine(detail))
	}
	tw.Flush()
	s := cl.Summary
	e.printf("\n%d pass, %d fail, %d skip (state dir %s)\n", s.Pass, s.Fail, s.Skip, cl.StateDir)
}

// ownerUID returns the uid owning fi, where the platform has uids (the
// Uid field of syscall.Stat_t), without a build-tagged file.
func ownerUID(fi os.FileInfo) (int, bool) {
	v := reflect.Indirect(reflect.ValueOf(fi.Sys()))
	if v.Kind() != reflect.Struct {
		return 0, false
	}
	f := v.FieldByName("Uid")
	if !f.IsValid() || !f.CanUint() {
		return 0, false
	}
	return int(f.Uint()), true
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
