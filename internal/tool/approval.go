package tool

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// ApprovalRequest is one elevated command waiting for the owner. Its
// approval covers exactly this argv, run by exactly this executable in
// exactly this directory, once.
type ApprovalRequest struct {
	ID string `json:"id"`
	// Argv is the command as it will run; Argv[0] as the model wrote it.
	Argv []string `json:"argv"`
	// Executable is the absolute, symlink-free path Argv[0] resolved to.
	Executable string `json:"executable"`
	// Dir is the absolute, symlink-free working directory.
	Dir        string    `json:"dir"`
	SessionKey string    `json:"sessionKey"`
	Channel    string    `json:"channel,omitempty"`
	SenderID   string    `json:"senderId,omitempty"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	// Digest is the SHA-256 of argv, executable and directory: what an
	// approval is bound to.
	Digest string `json:"digest"`
}

// Digest returns the hex SHA-256 binding argv, exe and dir.
func Digest(argv []string, exe, dir string) string {
	b, _ := json.Marshal(struct {
		Argv []string `json:"argv"`
		Exe  string   `json:"exe"`
		Dir  string   `json:"dir"`
	}{argv, exe, dir})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Approval errors.
var (
	ErrDenied          = errors.New("the owner denied the command")
	ErrApprovalExpired = errors.New("the owner did not approve the command in time")
	ErrNoApproval      = errors.New("no elevated command is waiting with that id")
)

// Approvals holds elevated commands waiting for the owner's decision. It
// lives in the gateway's memory only: a pending command dies with the
// process, and nothing the agent can reach decides one. Safe for
// concurrent use.
type Approvals struct {
	notify func(context.Context, ApprovalRequest)
	now    func() time.Time

	mu      sync.Mutex
	pending map[string]*pending
}

type pending struct {
	req      ApprovalRequest
	decision chan bool // buffered 1
}

// NewApprovals returns an empty set. notify, if not nil, is told of each
// new request (to message the owner); it must return promptly.
func NewApprovals(notify func(context.Context, ApprovalRequest)) *Approvals {
	return &Approvals{notify: notify, now: time.Now, pending: make(map[string]*pending)}
}

// Wait registers req (its ID, Created, Expires and Digest are filled in),
// tells the owner, and blocks until the owner decides, timeout passes or
// ctx ends. It returns the request as approved, or an error: ErrDenied,
// ErrApprovalExpired, or ctx's.
func (a *Approvals) Wait(ctx context.Context, req ApprovalRequest, timeout time.Duration) (ApprovalRequest, error) {
	req.ID = newApprovalID()
	req.Argv = slices.Clone(req.Argv)
	req.Created = a.now()
	req.Expires = req.Created.Add(timeout)
	req.Digest = Digest(req.Argv, req.Executable, req.Dir)
	p := &pending{req: req, decision: make(chan bool, 1)}
	a.mu.Lock()
	a.pending[req.ID] = p
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.pending, req.ID)
		a.mu.Unlock()
	}()
	if a.notify != nil {
		a.notify(ctx, req)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ok := <-p.decision:
		if !ok {
			return req, ErrDenied
		}
		return req, nil
	case <-t.C:
		return req, ErrApprovalExpired
	case <-ctx.Done():
		return req, context.Cause(ctx)
	}
}

// List returns the waiting requests, oldest first.
func (a *Approvals) List() []ApprovalRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ApprovalRequest, 0, len(a.pending))
	for _, p := range a.pending {
		out = append(out, p.req)
	}
	slices.SortFunc(out, func(x, y ApprovalRequest) int { return x.Created.Compare(y.Created) })
	return out
}

// Decide approves or denies the request with id. When digest is not
// empty it must be a prefix (at least 8 characters) of the request's
// digest, so that the owner approves the command they were shown.
func (a *Approvals) Decide(id, digest string, approve bool) (ApprovalRequest, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pending[strings.ToUpper(strings.TrimSpace(id))]
	if !ok {
		return ApprovalRequest{}, fmt.Errorf("%w: %q (list them with gatehouse approvals list)", ErrNoApproval, id)
	}
	if digest != "" && (len(digest) < 8 || !strings.HasPrefix(p.req.Digest, strings.ToLower(digest))) {
		return ApprovalRequest{}, fmt.Errorf("approval %s is for a different command (digest %s…): nothing was approved", p.req.ID, p.req.Digest[:12])
	}
	select {
	case p.decision <- approve:
	default:
		return ApprovalRequest{}, fmt.Errorf("approval %s was already decided", p.req.ID)
	}
	return p.req, nil
}

func newApprovalID() string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base32.StdEncoding.EncodeToString(b[:])
}
