// Package config owns gatehouse.json: the typed schema with its secure
// defaults, JWCC loading (JSON with comments and trailing commas), strict
// decoding in which unknown keys are errors, get/set/unset by dotted path,
// validation, atomic saving and the JSON Schema export.
//
// It imports only package state (for atomic, private file writes); every
// other package may import it.
package config
