package audit_test

import (
	"testing"

	"gatehouse/internal/audit"
	"gatehouse/internal/gateway"
)

// TestExposureBitsMatchGateway: the audit calls a token weak exactly when
// the gateway would refuse it on a non-loopback bind.
func TestExposureBitsMatchGateway(t *testing.T) {
	if audit.MinExposedSecretBits != gateway.MinExposedSecretBits {
		t.Errorf("audit.MinExposedSecretBits = %d, gateway's = %d", audit.MinExposedSecretBits, gateway.MinExposedSecretBits)
	}
}
