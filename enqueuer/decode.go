package enqueuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/noderemover/noderemover/removal"
)

// The JSON form of a request: a POST body of the HTTP API and an
// `enqueue --from-file` line are both read by DecodeRequest, so a request
// means the same wherever it comes from.

// requestFields are the members of a request's JSON.
var requestFields = []string{"request_id", "project_id", "cluster_id", "region", "nodes", "ssh_key", "password", "username", "drain", "callback_url", "callback_events"}

// drainFields are the members of a request's drain object.
var drainFields = []string{"enabled", "timeout", "on_timeout", "grace_period", "delete_emptydir_data", "force"}

// DecodeRequest decodes one request object strictly, as openapi.json's
// Request schema has it: unknown or repeated members (names match exactly,
// not in any case), wrong types (null included), an optional member given
// as "", anything but one object, and data after it are errors. Errors are
// *removal.InvalidError naming the member, never quoting a value. It reads
// POST bodies and `enqueue --from-file` lines alike. Request's own json
// tags say the same members, for encoding.
func DecodeRequest(body []byte) (Request, error) {
	var req Request
	if len(bytes.TrimSpace(body)) == 0 {
		return req, invalidInput("the body is empty; send a request as a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return req, syntaxError(err)
	}
	if tok != json.Delim('{') {
		return req, invalidInput("the body must be a JSON object, not %s", tokenKind(tok))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return req, syntaxError(err)
		}
		key, _ := tok.(string) // inside an object the decoder yields member names
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return req, syntaxError(err)
		}
		if seen[key] {
			return req, &removal.InvalidError{Field: removal.SafeFieldName(key), Problem: "is given twice"}
		}
		seen[key] = true
		if err := setField(&req, key, raw); err != nil {
			return req, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return req, syntaxError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, invalidInput("data after the JSON object; send exactly one request")
	}
	return req, nil
}

func setField(req *Request, key string, raw json.RawMessage) error {
	var err error
	switch key {
	case "request_id":
		req.ID, err = optionalString(key, raw)
	case "project_id":
		req.ProjectID, err = jsonString(key, raw)
	case "cluster_id":
		req.ClusterID, err = jsonString(key, raw)
	case "region":
		req.Region, err = optionalString(key, raw)
	case "nodes":
		req.Nodes, err = jsonStrings(key, raw)
	case "ssh_key":
		req.SSHKey, err = optionalString(key, raw)
	case "password":
		req.Password, err = optionalString(key, raw)
	case "username":
		req.Username, err = optionalString(key, raw)
	case "drain":
		req.Drain, err = decodeDrain(raw)
	case "callback_url":
		req.CallbackURL, err = optionalString(key, raw)
	case "callback_events":
		req.CallbackEvents, err = optionalString(key, raw)
	default:
		err = &removal.InvalidError{Field: removal.SafeFieldName(key),
			Problem: "is not a member of a request (known: " + strings.Join(requestFields, ", ") + ")"}
	}
	return err
}

func jsonString(field string, raw json.RawMessage) (string, error) {
	var s string
	if raw[0] != '"' {
		return "", &removal.InvalidError{Field: field, Problem: "must be a string, not " + valueKind(raw)}
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &removal.InvalidError{Field: field, Problem: "is not a valid JSON string"}
	}
	return s, nil
}

// optionalString is a member that may be left out but not given empty:
// "" would silently mean "left out" (a made-up request id; a password
// login beside an empty ssh_key).
func optionalString(field string, raw json.RawMessage) (string, error) {
	s, err := jsonString(field, raw)
	if err == nil && s == "" {
		err = &removal.InvalidError{Field: field, Problem: "is empty; give a value or leave the member out"}
	}
	return s, err
}

func jsonStrings(field string, raw json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if raw[0] != '[' {
		return nil, &removal.InvalidError{Field: field, Problem: "must be an array of node uids, not " + valueKind(raw)}
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &removal.InvalidError{Field: field, Problem: "is not a valid JSON array"}
	}
	out := make([]string, len(items))
	for i, item := range items {
		s, err := jsonString(fmt.Sprintf("%s[%d]", field, i), item)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// valueKind names the JSON type of a well-formed value.
func valueKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func tokenKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a number"
}

func invalidInput(format string, args ...any) error {
	return &removal.InvalidError{Problem: fmt.Sprintf(format, args...)}
}

// syntaxError says where the body stops being JSON.
func syntaxError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return invalidInput("the body is not valid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalidInput("the body ends before its JSON object does")
	}
	return invalidInput("the body is not valid JSON: %v", err)
}

// decodeDrain reads a request's drain object as strictly as the request:
// every member optional, none unknown, repeated or of the wrong type.
func decodeDrain(raw json.RawMessage) (*DrainOptions, error) {
	if raw[0] != '{' {
		return nil, &removal.InvalidError{Field: "drain", Problem: "must be an object, not " + valueKind(raw)}
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, &removal.InvalidError{Field: "drain", Problem: "is not a valid JSON object"}
	}
	if err := noRepeats(raw); err != nil {
		return nil, err
	}
	d := &DrainOptions{}
	keys := make([]string, 0, len(members))
	for key := range members {
		keys = append(keys, key)
	}
	slices.Sort(keys) // the same error for the same body, every time
	for _, key := range keys {
		v := members[key]
		field := "drain." + removal.SafeFieldName(key)
		var err error
		switch key {
		case "enabled":
			d.Enabled, err = jsonBool(field, v)
		case "delete_emptydir_data":
			d.DeleteEmptyDirData, err = jsonBool(field, v)
		case "force":
			d.Force, err = jsonBool(field, v)
		case "on_timeout":
			var s string
			if s, err = optionalString(field, v); err == nil {
				d.OnTimeout = &s
			}
		case "timeout":
			d.Timeout, err = jsonDuration(field, v)
		case "grace_period":
			d.GracePeriod, err = jsonDuration(field, v)
		default:
			err = &removal.InvalidError{Field: field, Problem: "is not a member of drain (known: " + strings.Join(drainFields, ", ") + ")"}
		}
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// noRepeats fails on a member given twice in the object raw.
func noRepeats(raw json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return syntaxError(err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		key, _ := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return syntaxError(err)
		}
		if seen[key] {
			return &removal.InvalidError{Field: "drain." + removal.SafeFieldName(key), Problem: "is given twice"}
		}
		seen[key] = true
	}
	return nil
}

func jsonBool(field string, raw json.RawMessage) (*bool, error) {
	var b bool
	if raw[0] != 't' && raw[0] != 'f' {
		return nil, &removal.InvalidError{Field: field, Problem: "must be true or false, not " + valueKind(raw)}
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, &removal.InvalidError{Field: field, Problem: "is not a valid JSON boolean"}
	}
	return &b, nil
}

func jsonDuration(field string, raw json.RawMessage) (*removal.Duration, error) {
	s, err := optionalString(field, raw)
	if err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, &removal.InvalidError{Field: field, Problem: "is not a duration such as \"10m\" or \"90s\""}
	}
	v := removal.Duration(d)
	return &v, nil
}
