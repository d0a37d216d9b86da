package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"energyprofiler/backend/profiler"
	"energyprofiler/backend/store"
)

// ---- push -------------------------------------------------------------------

// runPush copies finished runs from this machine's database to a team
// server. Run ids are UUIDs: the server says which it has, and only the
// others are sent, so pushing again copies nothing.
func runPush(ctx context.Context, env Env) error {
	fs := runsFlagSet("push", env.Stderr, "push [RUN…|--all] --to URL [--token-file FILE] [--db PATH]")
	to := fs.String("to", "", "the team server, e.g. http://team-server:8000")
	all := fs.Bool("all", false, "push every finished run")
	tokenFile := fs.String("token-file", "", "file holding this machine's push token (or set "+tokenEnv+")")
	db := storeDBFlag(fs)
	args, err := parseRunArgs(fs, env.Args)
	if err != nil {
		return runsHelpOK(err)
	}
	if *to == "" {
		fs.Usage()
		return fmt.Errorf("%w: --to URL names the team server", ErrUsage)
	}
	base, err := url.Parse(strings.TrimSuffix(*to, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("%w: --to %q: use http://HOST:PORT or https://HOST", ErrUsage, *to)
	}
	if *all == (len(args) > 0) {
		fs.Usage()
		return fmt.Errorf("%w: name the runs to push, or pass --all", ErrUsage)
	}
	token, err := loadToken(*tokenFile, os.Getenv(tokenEnv))
	if err != nil {
		return err
	}
	st, err := readRunStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()

	ids, skipped, err := runsToPush(ctx, st, args, *all)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintf(env.Stderr, "skipping %s: %s\n", s.ID[:8], s.why)
	}
	c := pushClient{base: base.String(), token: token, http: &http.Client{Timeout: 15 * time.Minute}}
	have, err := c.have(ctx, ids)
	if err != nil {
		return err
	}
	here := profiler.DetectHost()
	var copied, there int
	for _, id := range ids {
		if have[id] {
			there++
			continue
		}
		rec, err := st.Get(ctx, id)
		if err != nil {
			return err
		}
		fillMachine(&rec.Run.Host, here)
		created, err := c.push(ctx, rec)
		if err != nil {
			return fmt.Errorf("push run %s (%d of %d copied before it): %w", id, copied, len(ids), err)
		}
		if created {
			copied++
			fmt.Fprintf(env.Stdout, "pushed %s  %s  %s\n", id[:8], rec.Run.CreatedAt.Format("2006-01-02 15:04"), rec.Run.ModelName)
		} else {
			there++
		}
	}
	fmt.Fprintf(env.Stdout, "%d run(s) copied to %s, %d already there\n", copied, base.Redacted(), there)
	return nil
}

type skippedRun struct{ ID, why string }

// runsToPush resolves the runs named (or every run, with all) and leaves
// out those not finished yet: their store is still writing them.
func runsToPush(ctx context.Context, st *store.Store, args []string, all bool) (ids []string, skipped []skippedRun, err error) {
	if !all {
		for _, a := range args {
			id, err := st.Resolve(ctx, a)
			if err != nil {
				return nil, nil, err
			}
			rec, err := st.Get(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			if !store.Finished(rec.Run.Status) {
				skipped = append(skipped, skippedRun{id, fmt.Sprintf("it is %s; push it when it has finished", rec.Run.Status)})
				continue
			}
			ids = append(ids, id)
		}
		return ids, skipped, nil
	}
	q := store.Query{Sort: "date", Asc: true, Limit: 1000, Status: store.FinishedStatuses()}
	for {
		page, err := st.List(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range page.Runs {
			ids = append(ids, r.ID)
		}
		q.Offset += len(page.Runs)
		if len(page.Runs) == 0 || q.Offset >= page.Total {
			return ids, nil, nil
		}
	}
}

// fillMachine names the machine of a run recorded before runs recorded
// machines: this one, where the host name says so (or is missing), else a
// machine known by its host name alone.
func fillMachine(h *profiler.Host, here profiler.Host) {
	if h.ID != "" {
		return
	}
	if h.Hostname == "" || h.Hostname == here.Hostname {
		h.ID, h.Hostname = here.ID, here.Hostname
		return
	}
	h.ID, _ = profiler.MachineIdentity("", h.Hostname, "")
}

// pushClient talks to a team server's push API.
type pushClient struct {
	base, token string
	http        *http.Client
}

func (c pushClient) do(ctx context.Context, path string, body []byte, gzipped bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the team server: %w", err)
	}
	if res.StatusCode >= 300 {
		defer res.Body.Close()
		var e struct{ Error, Detail string }
		_ = json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&e)
		msg := strings.TrimSpace(e.Error + ": " + e.Detail)
		switch res.StatusCode {
		case http.StatusUnauthorized:
			return nil, fmt.Errorf("the team server refused the token (%s): pass this machine's push token with --token-file or %s (made on the server with 'energyprofiler token add NAME')", msg, tokenEnv)
		case http.StatusForbidden:
			return nil, fmt.Errorf("the team server does not let this token push (%s): use a push token, not a viewer's", msg)
		case http.StatusNotFound:
			return nil, fmt.Errorf("%s does not take pushed runs (%s): is it an energyprofiler server of this version?", c.base, msg)
		}
		return nil, fmt.Errorf("the team server answered %s: %s", res.Status, msg)
	}
	return res, nil
}

// have asks which of ids the server has, a thousand at a time.
func (c pushClient) have(ctx context.Context, ids []string) (map[string]bool, error) {
	have := map[string]bool{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 1000)]
		ids = ids[len(chunk):]
		body, _ := json.Marshal(map[string]any{"ids": chunk})
		res, err := c.do(ctx, "/api/push/have", body, false)
		if err != nil {
			return nil, err
		}
		var out struct {
			Have []string `json:"have"`
		}
		err = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read the team server's answer: %w", err)
		}
		for _, id := range out.Have {
			have[id] = true
		}
	}
	return have, nil
}

// push sends one run, gzipped; created is false when the server had it.
func (c pushClient) push(ctx context.Context, rec *profiler.Record) (created bool, err error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(rec); err != nil {
		return false, err
	}
	if err := zw.Close(); err != nil {
		return false, err
	}
	res, err := c.do(ctx, "/api/push/run", buf.Bytes(), true)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	return res.StatusCode == http.StatusCreated, nil
}

// ---- token ------------------------------------------------------------------

// runToken manages a team server's tokens in its database: one push token
// per machine, view tokens for people who only look.
func runToken(ctx context.Context, env Env) error {
	fs := runsFlagSet("token", env.Stderr, "token add NAME [--role push|view] | token list | token revoke NAME   [--db PATH]")
	role := fs.String("role", store.RolePush, "with add: push (a machine that copies its runs in) or view (read only)")
	asJSON := fs.Bool("json", false, "with list: print JSON")
	db := storeDBFlag(fs)
	args, err := parseRunArgs(fs, env.Args)
	if err != nil {
		return runsHelpOK(err)
	}
	usage := func(msg string) error {
		fs.Usage()
		return fmt.Errorf("%w: %s", ErrUsage, msg)
	}
	if len(args) == 0 {
		return usage("want add, list or revoke")
	}
	switch args[0] {
	case "add":
		if len(args) != 2 {
			return usage("token add NAME (the machine's or the person's name)")
		}
		st, err := openRunStore(*db)
		if err != nil {
			return err
		}
		defer st.Close()
		secret, err := st.AddToken(ctx, args[1], *role)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "Token %q (%s) for %s. It is shown only now; keep it in a file only its owner can read (chmod 600) and pass it with --token-file.\n", args[1], *role, st.Path())
		fmt.Fprintln(env.Stdout, secret)
		return nil
	case "revoke":
		if len(args) != 2 {
			return usage("token revoke NAME")
		}
		st, err := openRunStore(*db)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.RevokeToken(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked token %s\n", args[1])
		return nil
	case "list":
		if len(args) != 1 {
			return usage("token list takes no arguments")
		}
		st, err := readRunStore(*db)
		if err != nil {
			return err
		}
		defer st.Close()
		list, err := st.Tokens(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(env.Stdout).Encode(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(env.Stdout, "no tokens (add one with 'energyprofiler token add NAME')")
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED (UTC)")
		for _, t := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	}
	return usage(fmt.Sprintf("unknown token command %q: want add, list or revoke", args[0]))
}
