package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/cmd/berth/config"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

const userUsage = `Usage:
  berth user add NAME [--admin]   create a user; the password is read from standard input
  berth user passwd NAME          set a user's password, read from standard input
  berth user list                 list users
  berth user delete NAME          delete a user
Each takes serve's --config, --data-dir and --database-url.`

// userCmd manages users on the metadata database directly (for operators).
func userCmd(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, userUsage)
		return errors.New("missing subcommand")
	}
	sub, rest := args[0], args[1:]
	var name string
	if sub != "list" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return fmt.Errorf("user %s: missing NAME\n%s", sub, userUsage)
		}
		name, rest = rest[0], rest[1:]
	}
	var admin bool
	fs := flag.NewFlagSet("berth user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f config.Flags
	fs.StringVar(&f.ConfigFile, "config", "", "YAML configuration file")
	fs.StringVar(&f.DataDir, "data-dir", "", "data directory")
	fs.StringVar(&f.DatabaseURL, "database-url", "", "metadata database")
	if sub == "add" {
		fs.BoolVar(&admin, "admin", false, "make the user a system administrator")
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	cfg, err := config.Load(f, environ)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	db, err := metadata.Open(ctx, cfg.Database.URL, cfg.Database.Timeout)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := auth.New(ctx, cfg.Auth, db, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		if _, err := svc.AddUser(ctx, name, pw, admin); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %s\n", name)
	case "passwd":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, name, pw); errors.Is(err, domain.ErrNotFound) {
			return fmt.Errorf("user %q does not exist (berth user add creates it)", name)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed\n", name)
	case "list":
		us, err := svc.Users(ctx)
		if err != nil {
			return err
		}
		for _, u := range us {
			role := "user"
			if u.Admin {
				role = "admin"
			}
			if u.Disabled {
				role += " (disabled)"
			}
			fmt.Fprintf(stdout, "%-32s %s\n", u.Username, role)
		}
	case "delete":
		if name == auth.AdminUser {
			return errors.New("the admin user cannot be deleted (change its password instead)")
		}
		if err := svc.DeleteUser(ctx, name); errors.Is(err, domain.ErrNotFound) {
			return fmt.Errorf("user %q does not exist", name)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted user %s\n", name)
	default:
		return fmt.Errorf("unknown subcommand %q\n%s", sub, userUsage)
	}
	return nil
}

// readPassword reads the first line of stdin: passwords never go on the
// command line, where other users can see them.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on standard input")
	}
	return pw, nil
}
