package tool

import (
	"strings"

	"gatehouse/internal/config"
)

// Allowed reports whether the policy cfg lets the agent use the tool
// named name. Deny wins: a name listed in tools.deny is never allowed,
// whatever tools.allow or the profile say, and the reserved gateway-control
// names are never allowed at all. Deny entries are tool names, compared
// without regard to case or surrounding space.
//
// Every profile includes the built-in tools; profiles start to differ with
// the exec, file and web tools, which bring their own membership.
func Allowed(cfg config.Tools, name string) bool {
	if name == "" || IsReserved(name) {
		return false
	}
	for _, d := range cfg.Deny {
		if strings.EqualFold(strings.TrimSpace(d), name) {
			return false
		}
	}
	return true
}
