package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/berth-registry/berth/registry/retention"
)

// retentionCmd runs a project's retention policy, or sets or shows it:
//
//	berth retention run --project P [flags]      remove what no rule keeps
//	berth retention dry-run --project P [flags]  list what a run would remove
//	berth retention set --project P [flags] < policy.json
//	berth retention show --project P [flags]
//
// with serve's flags; safe while the server runs.
func retentionCmd(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: berth retention run|dry-run|set|show --project P [serve's flags]")
	}
	verb, rest := args[0], slices.Clone(args[1:])
	project := ""
	for i := 0; i < len(rest); i++ {
		if rest[i] == "--project" && i+1 < len(rest) {
			project = rest[i+1]
			rest = slices.Delete(rest, i, i+2)
			break
		}
	}
	if project == "" {
		return errors.New("--project is required")
	}
	o, err := openOffline(ctx, "retention", rest, environ, stderr)
	if err != nil {
		return err
	}
	defer o.Close()
	rn := o.Retention()
	p, err := o.DB().LookupProject(ctx, project)
	if err != nil {
		return fmt.Errorf("project %s: %w", project, err)
	}
	switch verb {
	case "run", "dry-run":
		run, err := rn.Run(ctx, project, retention.Options{DryRun: verb == "dry-run", Cause: "cli", Actor: "berth retention"})
		if err != nil && run.ID == 0 {
			return err
		}
		items, _ := o.DB().RetentionItems(ctx, run.ID, 0, 1<<30)
		for _, it := range items {
			what := it.Repository + ":" + it.Tag
			if it.Tag == "" {
				what = it.Repository + "@" + it.Digest
			}
			fmt.Fprintf(stdout, "%s\t%s\n", what, it.Decision)
		}
		verbText := "removed"
		if run.DryRun {
			verbText = "would remove"
		}
		fmt.Fprintf(stdout, "run %d %s %d of %d tags and %d manifests (%s)\n", run.ID, verbText, run.TagsRemoved, run.TagsSeen, run.ManifestsRemoved, run.Status)
		for why, n := range run.Kept {
			fmt.Fprintf(stdout, "kept %d: %s\n", n, why)
		}
		return err
	case "set":
		raw, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
		if err != nil {
			return err
		}
		pol, next, err := rn.SetPolicy(ctx, p.ID, raw, "berth retention")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "policy of %s: %d rules; next scheduled run: %v\n", project, len(pol.Rules), next)
		return nil
	case "show":
		pol, err := o.DB().GetRetentionPolicy(ctx, p.ID)
		if err != nil {
			return err
		}
		var v any
		_ = json.Unmarshal(pol.Rules, &v)
		out, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
		return nil
	}
	return fmt.Errorf("unknown retention command %q: run, dry-run, set or show", verb)
}
