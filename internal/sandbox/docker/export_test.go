//go:build !gatehouse_omit_docker

package docker

// ContainerID returns the container scope's commands run in, "" when it
// has none yet.
func (s *Sandbox) ContainerID(scope string) string {
	b := s.box(scope)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.id
}

// ScopeHash is the LabelScope value of scope.
var ScopeHash = scopeHash
