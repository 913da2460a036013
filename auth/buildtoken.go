package auth

import (
	"context"
	"time"
)

// IssueToken mints a short-lived registry token for work berth does on p's
// behalf (an image build pulling its base and pushing its result): pull on
// the pull repositories and pull+push on the push repositories, each
// intersected with p's rights now, exactly as the token service would
// grant them. It never widens what p may do.
func (s *Service) IssueToken(ctx context.Context, p Principal, pull, push []string, ttl time.Duration) (string, error) {
	if !p.Authenticated() {
		return "", ErrUnauthenticated
	}
	var access []ResourceActions
	add := func(repo string, actions []string) error {
		granted, err := s.repoActions(ctx, p, repo, actions)
		if err != nil || len(granted) == 0 {
			return err
		}
		access = append(access, ResourceActions{Type: "repository", Name: repo, Actions: granted})
		return nil
	}
	for _, r := range pull {
		if err := add(r, []string{ActionPull}); err != nil {
			return "", err
		}
	}
	for _, r := range push {
		if err := add(r, []string{ActionPull, ActionPush}); err != nil {
			return "", err
		}
	}
	if access == nil {
		access = []ResourceActions{}
	}
	now := time.Now()
	return s.signer.sign(Claims{
		Issuer: tokenIssuer, Subject: p.Name, Audience: s.cfg.Service, Kind: p.Kind, Version: p.CredentialVersion, SubjectID: p.subjectID(),
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(ttl).Unix(),
		ID: RandomSecret(12), Access: access,
	})
}
