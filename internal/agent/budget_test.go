package agent

import "testing"

func TestDollars(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0.00"}, {0.01, "0.01"}, {0.015, "0.015"}, {0.03, "0.03"}, {0.00012, "0.0001"},
		{0.5, "0.50"}, {1, "1.00"}, {12.345, "12.35"},
	}
	for _, tt := range tests {
		if got := dollars(tt.v); got != tt.want {
			t.Errorf("dollars(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
