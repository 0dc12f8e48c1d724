package cce

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// watchedFile is a secret kept in a file something else rewrites (a
// mounted Secret, a projected token): read again whenever the file
// changed, its last good value kept while the file is briefly missing or
// empty, as when a Secret's files are swapped.
type watchedFile struct {
	path string
	what string // for errors: "token file", "HUAWEICLOUD_SDK_SK_FILE"

	mu      sync.Mutex
	value   string
	modTime time.Time
	size    int64
}

// read returns the file's value, read again if the file changed or force.
func (f *watchedFile) read(force bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		if f.value != "" {
			return f.value, nil
		}
		return "", fmt.Errorf("cce: %s: %w", f.what, err)
	}
	if !force && f.value != "" && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.value, nil
	}
	raw, err := os.ReadFile(f.path)
	if err != nil {
		if f.value != "" {
			return f.value, nil
		}
		return "", fmt.Errorf("cce: %s: %w", f.what, err)
	}
	v := strings.TrimSpace(string(raw))
	if v == "" {
		if f.value != "" {
			return f.value, nil
		}
		return "", errors.New("cce: " + f.what + " " + f.path + " is empty")
	}
	f.value, f.modTime, f.size = v, fi.ModTime(), fi.Size()
	return v, nil
}
