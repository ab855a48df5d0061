// Package secret owns the credentials Gatehouse holds: the secret store
// (a JSON object of named values, encrypted at rest with age), and the
// redactor that every write path (logs, transcripts, errors) goes through so
// that no credential reaches disk or a chat in the clear.
//
// [NewHandler] wraps any slog.Handler with a [Redactor]; [Value] carries a
// secret through code that might log it; [Equal] compares secrets in constant
// time; [NewToken] and [EstimateBits] make and judge bearer tokens.
package secret
