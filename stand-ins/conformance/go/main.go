// Conformance checks that drive the project's stand-ins (stand-ins/gcp, stand-ins/cockroach) with
// real third-party Go clients: cloud.google.com/go/storage configured as CockroachDB's GCS sink
// configures it, google.golang.org/api/iam/v1, and github.com/jackc/pgx/v5.
//
// Usage:
//
//	conformance storage|iam|pgx   (reads CONF_GCP_ENDPOINT, CONF_ADMIN_KEY_FILE, CONF_PROJECT, CONF_COCKROACH_URL)
//	conformance tlsproxy PORT_FILE CERT_FILE   (a TLS front for the emulator, for gsutil; see tlsproxy.go)
//
// Every check prints one line "PASS|FAIL|SKIP name: detail" on stdout. The exit status is 0 when
// the program ran to the end (the runner counts FAIL lines), 2 on a usage or set-up error.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

type env struct {
	endpoint     string // http://127.0.0.1:PORT (the GCP emulator)
	adminKeyFile string // service-account key JSON (project owner)
	project      string
	cockroachURL string
}

func mustEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fmt.Fprintf(os.Stderr, "conformance: %s is not set\n", name)
		os.Exit(2)
	}
	return v
}

var outMu sync.Mutex

// report prints one result line; detail is flattened to one line and capped.
func report(status, name, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	detail = strings.Join(strings.Fields(detail), " ")
	if len(detail) > 600 {
		detail = detail[:600] + "…"
	}
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf("%s %s: %s\n", status, name, detail)
}

func pass(name, format string, args ...any) { report("PASS", name, format, args...) }
func fail(name, format string, args ...any) { report("FAIL", name, format, args...) }
func skip(name, format string, args ...any) { report("SKIP", name, format, args...) }

// check runs fn with a timeout and reports PASS with its detail, or FAIL with its error.
func check(name string, timeout time.Duration, fn func(ctx context.Context) (string, error)) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	type result struct {
		detail string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("panic: %v", r)}
			}
		}()
		d, err := fn(ctx)
		done <- result{d, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			fail(name, "%v", r.err)
			return false
		}
		pass(name, "%s", r.detail)
		return true
	case <-time.After(timeout + 5*time.Second):
		fail(name, "no answer within %s (the client did not return even after its context expired)", timeout)
		return false
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: conformance storage|iam|pgx|tlsproxy")
		os.Exit(2)
	}
	if os.Args[1] == "tlsproxy" {
		runTLSProxy(os.Args[2:])
		return
	}
	e := env{
		endpoint:     mustEnv("CONF_GCP_ENDPOINT"),
		adminKeyFile: mustEnv("CONF_ADMIN_KEY_FILE"),
		project:      mustEnv("CONF_PROJECT"),
		cockroachURL: os.Getenv("CONF_COCKROACH_URL"),
	}
	switch os.Args[1] {
	case "storage":
		runStorage(e)
	case "iam":
		runIAM(e)
	case "pgx":
		if e.cockroachURL == "" {
			fmt.Fprintln(os.Stderr, "conformance: CONF_COCKROACH_URL is not set")
			os.Exit(2)
		}
		runPgx(e)
	default:
		fmt.Fprintf(os.Stderr, "conformance: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}
