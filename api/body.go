package api

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/noderemover/noderemover/enqueuer"
)

// maxBodyBytes bounds a POST body. A request of 200 nodes is about 10 KiB;
// the rest is room for whitespace, not for abuse.
const maxBodyBytes = 1 << 20

// readRequest reads the body of r as one enqueuer.Request: JSON, at most
// maxBodyBytes, exactly one object with known members of the right types
// (enqueuer.DecodeRequest). Errors are errUnsupportedMediaType,
// *http.MaxBytesError or *enqueuer.InvalidError naming the member. They name
// members and JSON kinds, never values, so a password cannot come back in
// one.
func readRequest(w http.ResponseWriter, r *http.Request) (enqueuer.Request, error) {
	body, err := readBody(w, r)
	if err != nil {
		return enqueuer.Request{}, err
	}
	return enqueuer.DecodeRequest(body)
}

// readBody reads a JSON body of at most maxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if r.ContentLength > maxBodyBytes {
		return nil, &http.MaxBytesError{Limit: maxBodyBytes}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, invalidInput("the body could not be read: %v", err)
	}
	return body, nil
}

// checkContentType accepts application/json, in UTF-8.
func checkContentType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errUnsupportedMediaType{got: ct}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errUnsupportedMediaType{got: ct}
	}
	return nil
}

// invalidInput is a 400 about the request as a whole (no field).
func invalidInput(format string, args ...any) error {
	return &enqueuer.InvalidError{Problem: fmt.Sprintf(format, args...)}
}

// queryValue returns the one value of parameter name in q; a parameter
// given twice or empty is an error naming it.
func queryValue(q url.Values, name string) (string, bool, error) {
	vs, ok := q[name]
	switch {
	case !ok:
		return "", false, nil
	case len(vs) > 1:
		return "", false, &enqueuer.InvalidError{Field: name, Problem: "is given more than once"}
	case vs[0] == "":
		return "", false, &enqueuer.InvalidError{Field: name, Problem: "is empty; leave it out to select every value"}
	}
	return vs[0], true, nil
}

// onlyParams fails on a query parameter not among known.
func onlyParams(q url.Values, known ...string) error {
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(known, name) {
			msg := "is not a query parameter here"
			if len(known) > 0 {
				msg = "is not a query parameter here (known: " + strings.Join(known, ", ") + ")"
			}
			return &enqueuer.InvalidError{Field: enqueuer.SafeFieldName(name), Problem: msg}
		}
	}
	return nil
}
