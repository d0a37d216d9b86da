// Package pgtest gives a test a fresh PostgreSQL database of its own, on
// the server named by ENERGYPROFILER_TEST_PG, dropped when the test ends.
// Without that variable the test is skipped, saying how to run it; where
// ENERGYPROFILER_REQUIRE_PG is set (CI sets it), a missing or unreachable
// server fails the test instead, so PostgreSQL tests cannot quietly stop
// running there. `.ci/pg start DIR` starts a throw-away server.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

const (
	// EnvURL names the server (a postgres:// URL of a database the test
	// user may connect to, as a user who may create databases).
	EnvURL = "ENERGYPROFILER_TEST_PG"
	// EnvRequire, when set, turns a skip into a failure.
	EnvRequire = "ENERGYPROFILER_REQUIRE_PG"
)

// Configured reports whether a PostgreSQL server is named for tests.
func Configured() bool { return os.Getenv(EnvURL) != "" }

// Skip skips tb (or fails it, where PostgreSQL is required) because no
// server is named.
func Skip(tb testing.TB) {
	tb.Helper()
	msg := fmt.Sprintf("PostgreSQL tests skipped: no server (set %s=postgres://…; '.ci/pg start DIR' starts one)", EnvURL)
	if os.Getenv(EnvRequire) != "" {
		tb.Fatalf("%s, but %s is set: PostgreSQL tests must run here", msg, EnvRequire)
	}
	tb.Skip(msg)
}

// URL creates an empty database for tb and returns its URL; the database
// is dropped when tb ends.
func URL(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		Skip(tb)
	}
	db, err := open(admin)
	if err != nil {
		tb.Fatalf("PostgreSQL at %s: %v", redacted(admin), err)
	}
	defer db.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "ep_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for try := 0; ; try++ {
		_, err = db.ExecContext(ctx, `CREATE DATABASE `+name)
		// Two databases made from template1 at the same moment can collide.
		if err == nil || try == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("create test database on %s: %v", redacted(admin), err)
	}
	tb.Cleanup(func() {
		db, err := open(admin)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer db.Close()
		if _, err := db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func open(u string) (*sql.DB, error) {
	db, err := sql.Open("pgx", u)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the server"
	}
	return u.Redacted()
}
