package ccetest

import (
	"crypto/hmac"
	"crypto/subtle"
	"net/http"
	"slices"
	"time"

	"github.com/noderemover/noderemover/cce"
)

// maxClockSkew is how far X-Sdk-Date may be from the fake's clock.
const maxClockSkew = 15 * time.Minute

// authenticate accepts a request carrying the configured token or a valid
// SDK-HMAC-SHA256 signature, and otherwise returns why not (never quoting a
// credential). With neither Token nor AK configured every request passes.
func (f *Fake) authenticate(r *http.Request, body []byte, now time.Time) (reason string) {
	if f.opts.Token == "" && f.opts.AK == "" && f.opts.IAM == nil {
		return ""
	}
	token := r.Header.Get("X-Auth-Token")
	if f.opts.Token != "" && token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(f.opts.Token)) == 1 {
		return ""
	}
	if f.opts.IAM != nil && token != "" {
		ok, expired := f.opts.IAM.valid(token, cce.ProjectOf(r.URL.Path), now)
		switch {
		case ok:
			return ""
		case expired:
			return "the token has expired"
		}
		if f.opts.Token == "" {
			return "the X-Auth-Token is not valid for this project"
		}
	}
	authorization := r.Header.Get("Authorization")
	switch {
	case (f.opts.AK != "" || f.opts.IAM != nil) && authorization != "":
		return f.verifySignature(r, authorization, body, now)
	case token != "":
		return "the X-Auth-Token is not valid"
	case authorization != "":
		return "signed requests are not accepted here"
	}
	return "no X-Auth-Token and no Authorization header"
}

// verifySignature checks an SDK-HMAC-SHA256 Authorization header the way
// the API gateway does. Host need not be signed (the official Go SDK does
// not sign it); when it is, it must match.
func (f *Fake) verifySignature(r *http.Request, authorization string, body []byte, now time.Time) string {
	ak, signed, signature, err := cce.ParseAuthorization(authorization)
	if err != nil {
		return "malformed Authorization header"
	}
	sk := f.opts.SK
	if f.opts.AK == "" || subtle.ConstantTimeCompare([]byte(ak), []byte(f.opts.AK)) != 1 {
		k, ok := temporaryKey{}, false
		if f.opts.IAM != nil {
			k, ok = f.opts.IAM.temporaryKey(ak)
		}
		switch {
		case !ok:
			return "unknown access key"
		case !now.Before(k.expires):
			return "the temporary access key has expired"
		case subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Security-Token")), []byte(k.securityToken)) != 1:
			return "a temporary access key needs its X-Security-Token"
		}
		sk = k.secret
	}
	date, err := time.Parse(cce.SignDateFormat, r.Header.Get("X-Sdk-Date"))
	if err != nil {
		return "X-Sdk-Date is missing or not " + cce.SignDateFormat
	}
	if skew := now.Sub(date); skew > maxClockSkew || skew < -maxClockSkew {
		return "X-Sdk-Date is more than 15 minutes away from the server's clock"
	}
	if !slices.Contains(signed, "x-sdk-date") {
		return "x-sdk-date is not among the signed headers"
	}
	if len(r.Header.Values("X-Security-Token")) > 0 && !slices.Contains(signed, "x-security-token") {
		return "x-security-token is sent but not signed"
	}
	want, err := cce.Signature(sk, r, body, signed)
	if err != nil {
		return "cannot verify the signature: " + err.Error()
	}
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return "the signature does not match"
	}
	return ""
}
