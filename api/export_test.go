package api

// Routes lists "METHOD PATTERN" for every route the handler serves.
func Routes() []string {
	var out []string
	for _, rt := range (&server{}).routes() {
		out = append(out, rt.method+" "+rt.pattern)
	}
	return out
}

// Limits the tests compare.
const (
	CallTimeout  = callTimeout
	MaxBodyBytes = maxBodyBytes
)
