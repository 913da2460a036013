package domain

import (
	"regexp"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

const maxNameLength = 255

var (
	projectNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	repoNameRE    = regexp.MustCompile(`^` + reference.NameRegexp.String() + `$`)
	tagRE         = regexp.MustCompile(`^` + reference.TagRegexp.String() + `$`)
)

// ValidateProjectName accepts lowercase letters, digits and single '.', '_'
// or '-' separators, 1 to 255 characters.
func ValidateProjectName(name string) error {
	if err := basicName("project name", name); err != nil {
		return err
	}
	if strings.Contains(name, "/") || !projectNameRE.MatchString(name) {
		return errorf(ErrInvalid, "project name %q must be lowercase letters and digits separated by single '.', '_' or '-'", name)
	}
	return nil
}

// ValidateRepositoryName accepts an OCI repository name of the form
// <project>/<path>: lowercase components joined by '/', at most 255 characters.
func ValidateRepositoryName(name string) error {
	if err := basicName("repository name", name); err != nil {
		return err
	}
	if !repoNameRE.MatchString(name) {
		return errorf(ErrInvalid, "repository name %q is not a valid OCI name (lowercase letters, digits, separators '.', '_', '__', '-', and '/')", name)
	}
	if !strings.Contains(name, "/") {
		return errorf(ErrInvalid, "repository name %q must be <project>/<name>", name)
	}
	return nil
}

// ValidateTag accepts an OCI tag.
func ValidateTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return errorf(ErrInvalid, "tag %q is not valid (up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')", tag)
	}
	return nil
}

// ParseDigest validates a digest string.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", errorf(ErrInvalid, "digest %q is not valid: %v", s, err)
	}
	return d, nil
}

func basicName(what, name string) error {
	switch {
	case name == "":
		return errorf(ErrInvalid, "%s is empty", what)
	case len(name) > maxNameLength:
		return errorf(ErrInvalid, "%s is longer than %d characters", what, maxNameLength)
	case strings.ContainsRune(name, 0):
		return errorf(ErrInvalid, "%s contains a NUL byte", what)
	case strings.Contains(name, ".."):
		return errorf(ErrInvalid, "%s %q contains '..'", what, name)
	case strings.ToLower(name) != name:
		return errorf(ErrInvalid, "%s %q must be lowercase", what, name)
	}
	return nil
}
