//go:build !unix

package cli

func privateUmask() {}
