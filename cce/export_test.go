package cce

// ParseErrorBody exposes parseErrorBody to the external tests and fuzzers.
var ParseErrorBody = parseErrorBody
