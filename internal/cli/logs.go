package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

func newLogsCmd(e *env) *cobra.Command {
	var follow bool
	var lines int
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show the gateway's log",
		Long: `Show the last lines of the gateway's log, through the running gateway, or
from the log file when it is not running. --follow streams new lines.
Lines are already redacted: no secret reaches the log.`,
		Example: `  gatehouse logs --lines 50
  gatehouse logs --follow
  gatehouse logs --json | jq .msg`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lines < 1 || lines > 5000 {
				return usageErrorf("--lines must be between 1 and 5000")
			}
			ctx := cmd.Context()
			c, _, err := e.dial(ctx)
			if err != nil {
				if !isNotRunning(err) || follow {
					return err
				}
				return e.logsFromFile(lines)
			}
			defer c.Close()
			var res struct {
				Lines []string `json:"lines"`
			}
			if err := c.Call(ctx, "logs.tail", map[string]any{"lines": lines, "follow": follow}, &res); err != nil {
				return err
			}
			for _, l := range res.Lines {
				e.printLogLine(l)
			}
			if !follow {
				return nil
			}
			for {
				select {
				case <-ctx.Done():
					return nil
				case ev, ok := <-c.Events():
					if !ok {
						return fmt.Errorf("the gateway closed the connection")
					}
					if ev.Event != "log" {
						continue
					}
					var p struct {
						Line string `json:"line"`
					}
					if json.Unmarshal(ev.Payload, &p) == nil {
						e.printLogLine(p.Line)
					}
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream new lines until interrupted")
	cmd.Flags().IntVarP(&lines, "lines", "n", 200, "how many past lines to show")
	return cmd
}

// logsFromFile prints the tail of the log file when no gateway runs.
func (e *env) logsFromFile(n int) error {
	d, err := e.dir()
	if err != nil {
		return err
	}
	f, err := os.Open(d.Log())
	if err != nil {
		if os.IsNotExist(err) {
			e.warnf("no gateway is running and %s does not exist yet\n", d.Log())
			return nil
		}
		return err
	}
	defer f.Close()
	e.warnf("no gateway is running; reading %s\n", d.Log())
	var ring []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if len(ring) > n {
			ring = ring[1:]
		}
	}
	for _, l := range ring {
		e.printLogLine(l)
	}
	return sc.Err()
}

// printLogLine prints one JSON log line: raw with --json, else as
// "TIME LEVEL message key=value…".
func (e *env) printLogLine(line string) {
	if e.json {
		e.printf("%s\n", line)
		return
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		e.printf("%s\n", line)
		return
	}
	var b strings.Builder
	if t, ok := m["time"].(string); ok {
		if len(t) >= 19 {
			t = strings.Replace(t[:19], "T", " ", 1)
		}
		b.WriteString(t)
		b.WriteByte(' ')
	}
	if l, ok := m["level"].(string); ok {
		fmt.Fprintf(&b, "%-5s ", l)
	}
	if msg, ok := m["msg"].(string); ok {
		b.WriteString(msg)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "time" && k != "level" && k != "msg" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		if s, ok := v.(string); ok {
			if strings.ContainsAny(s, " \t\"") {
				fmt.Fprintf(&b, " %s=%q", k, s)
			} else {
				fmt.Fprintf(&b, " %s=%s", k, s)
			}
			continue
		}
		j, _ := json.Marshal(v)
		fmt.Fprintf(&b, " %s=%s", k, j)
	}
	e.printf("%s\n", b.String())
}
