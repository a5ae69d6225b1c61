package main

// CockroachDB twin checks with github.com/jackc/pgx/v5 in every QueryExecMode (conn.go):
// CacheStatement (named prepared statements "stmtcache_<hash>", binary results where the type
// has a binary codec), CacheDescribe and DescribeExec (unnamed statements, described first, binary
// results), Exec (unnamed, text parameters and results), SimpleProtocol (Query messages).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gcs "cloud.google.com/go/storage"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var execModes = []struct {
	name string
	mode pgx.QueryExecMode
}{
	{"CacheStatement", pgx.QueryExecModeCacheStatement},
	{"CacheDescribe", pgx.QueryExecModeCacheDescribe},
	{"DescribeExec", pgx.QueryExecModeDescribeExec},
	{"Exec", pgx.QueryExecModeExec},
	{"SimpleProtocol", pgx.QueryExecModeSimpleProtocol},
}

func connect(ctx context.Context, url string, mode pgx.QueryExecMode) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = mode
	return pgx.ConnectConfig(ctx, cfg)
}

func pgErr(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	return err.Error()
}

func runPgx(e env) {
	ctx := context.Background()
	// Set-up: rangefeeds on, a bucket, and one changefeed job so SHOW CHANGEFEED JOBS has a row.
	// Exec mode (unnamed statements, text formats): the mode least exposed to the twin's wire gaps.
	var jobID int64
	check("pgx.setup.changefeed", 60*time.Second, func(ctx context.Context) (string, error) {
		c, err := connect(ctx, e.cockroachURL, pgx.QueryExecModeExec)
		if err != nil {
			return "", err
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "SET CLUSTER SETTING kv.rangefeed.enabled = true"); err != nil {
			return "", fmt.Errorf("SET CLUSTER SETTING: %s", pgErr(err))
		}
		client, _, err := newCockroachStyleClient(ctx, e)
		if err != nil {
			return "", err
		}
		defer client.Close()
		bucket := randomName("conf-pgx")
		if err := client.Bucket(bucket).Create(ctx, e.project, &gcs.BucketAttrs{}); err != nil {
			return "", fmt.Errorf("bucket: %w", err)
		}
		q := fmt.Sprintf("CREATE CHANGEFEED INTO 'gs://%s/cf?AUTH=implicit' WITH resolved = '10s' AS SELECT instance_id, event_type, \"position\" FROM eventstore.events2", bucket)
		if err := c.QueryRow(ctx, q).Scan(&jobID); err != nil {
			return "", fmt.Errorf("CREATE CHANGEFEED: %s", pgErr(err))
		}
		return fmt.Sprintf("job %d", jobID), nil
	})

	for _, m := range execModes {
		p := "pgx." + m.name + "."
		c1, err := connect(ctx, e.cockroachURL, m.mode)
		if err != nil {
			fail(p+"connect", "%s", pgErr(err))
			continue
		}
		c2, err := connect(ctx, e.cockroachURL, m.mode)
		if err != nil {
			fail(p+"connect", "second connection: %s", pgErr(err))
			c1.Close(ctx)
			continue
		}

		check(p+"cluster-setting-bool", 20*time.Second, func(ctx context.Context) (string, error) {
			var seen []string
			for _, v := range []bool{true, false, true} {
				if _, err := c1.Exec(ctx, fmt.Sprintf("SET CLUSTER SETTING kv.rangefeed.enabled = %v", v)); err != nil {
					return "", fmt.Errorf("SET ... = %v: %s", v, pgErr(err))
				}
				var got bool
				if err := c1.QueryRow(ctx, "SHOW CLUSTER SETTING kv.rangefeed.enabled").Scan(&got); err != nil {
					return "", fmt.Errorf("SHOW after SET %v: scan into bool: %s", v, pgErr(err))
				}
				seen = append(seen, fmt.Sprint(got))
				if got != v {
					return "", fmt.Errorf("after SET kv.rangefeed.enabled = %v, SHOW scanned into bool = %v (values read: %v)", v, got, seen)
				}
			}
			return "read back " + strings.Join(seen, ","), nil
		})

		check(p+"int8", 20*time.Second, func(ctx context.Context) (string, error) {
			var got int64
			if err := c1.QueryRow(ctx, "SELECT 9007199254740995::INT8").Scan(&got); err != nil {
				return "", fmt.Errorf("%s", pgErr(err))
			}
			if got != 9007199254740995 {
				return "", fmt.Errorf("got %d, want 9007199254740995", got)
			}
			return fmt.Sprint(got), nil
		})

		check(p+"show-changefeed-jobs", 20*time.Second, func(ctx context.Context) (string, error) {
			rows, err := c1.Query(ctx, "SHOW CHANGEFEED JOBS")
			if err != nil {
				return "", fmt.Errorf("%s", pgErr(err))
			}
			defer rows.Close()
			var ids []int64
			cols := len(rows.FieldDescriptions())
			for rows.Next() {
				var id int64
				dest := make([]any, cols) // nil skips a column (pgx Rows.Scan)
				dest[0] = &id
				if err := rows.Scan(dest...); err != nil {
					return "", fmt.Errorf("scan job_id into int64: %s", pgErr(err))
				}
				ids = append(ids, id)
			}
			if err := rows.Err(); err != nil {
				return "", fmt.Errorf("%s", pgErr(err))
			}
			for _, id := range ids {
				if id == jobID {
					return fmt.Sprintf("%d row(s), %d columns, job %d", len(ids), cols, id), nil
				}
			}
			return "", fmt.Errorf("job_id values %v do not include the created job %d", ids, jobID)
		})

		check(p+"session-timezone", 20*time.Second, func(ctx context.Context) (string, error) {
			var tz1, tz2, before string
			if err := c2.QueryRow(ctx, "SHOW TimeZone").Scan(&before); err != nil {
				return "", fmt.Errorf("second connection SHOW TimeZone before: %s", pgErr(err))
			}
			if _, err := c1.Exec(ctx, "SET TimeZone = 'America/New_York'"); err != nil {
				return "", fmt.Errorf("SET TimeZone: %s", pgErr(err))
			}
			if err := c1.QueryRow(ctx, "SHOW TimeZone").Scan(&tz1); err != nil {
				return "", fmt.Errorf("first connection SHOW TimeZone: %s", pgErr(err))
			}
			if err := c2.QueryRow(ctx, "SHOW TimeZone").Scan(&tz2); err != nil {
				return "", fmt.Errorf("second connection SHOW TimeZone: %s", pgErr(err))
			}
			// Cleanup, so the next mode starts from UTC however the twin behaves.
			_, _ = c1.Exec(ctx, "SET TimeZone = 'UTC'", pgx.QueryExecModeExec)
			if before != "UTC" || tz1 != "America/New_York" || tz2 != "UTC" {
				return "", fmt.Errorf("second connection before=%q; after the first set America/New_York: first=%q second=%q (want UTC, America/New_York, UTC)", before, tz1, tz2)
			}
			return fmt.Sprintf("first %s, second %s", tz1, tz2), nil
		})

		check(p+"prepared-name-two-connections", 20*time.Second, func(ctx context.Context) (string, error) {
			const name = "conformance_ps"
			if _, err := c1.Prepare(ctx, name, "SELECT $1::INT8 * 2"); err != nil {
				return "", fmt.Errorf("first connection Prepare: %s", pgErr(err))
			}
			defer c1.Deallocate(context.Background(), name)
			if _, err := c2.Prepare(ctx, name, "SELECT $1::INT8 * 3"); err != nil {
				return "", fmt.Errorf("second connection Prepare of the same name: %s", pgErr(err))
			}
			defer c2.Deallocate(context.Background(), name)
			var a, b int64
			if err := c1.QueryRow(ctx, name, 21).Scan(&a); err != nil {
				return "", fmt.Errorf("first connection execute: %s", pgErr(err))
			}
			if err := c2.QueryRow(ctx, name, 21).Scan(&b); err != nil {
				return "", fmt.Errorf("second connection execute: %s", pgErr(err))
			}
			if a != 42 || b != 63 {
				return "", fmt.Errorf("first got %d (want 42), second got %d (want 63)", a, b)
			}
			if err := c1.Deallocate(ctx, name); err != nil {
				return "", fmt.Errorf("first connection Deallocate: %s", pgErr(err))
			}
			if err := c2.QueryRow(ctx, name, 1).Scan(&b); err != nil {
				return "", fmt.Errorf("second connection execute after the first deallocated: %s", pgErr(err))
			}
			if b != 3 {
				return "", fmt.Errorf("second connection after the first deallocated: got %d, want 3", b)
			}
			return "42 and 63; independent after DEALLOCATE", nil
		})

		c1.Close(ctx)
		c2.Close(ctx)
	}

	// A statement prepared on a connection that has closed must not exist for a new connection
	// (PostgreSQL and CockroachDB keep prepared statements per session).
	check("pgx.prepared-dies-with-connection", 20*time.Second, func(ctx context.Context) (string, error) {
		const name = "conformance_closed"
		a, err := connect(ctx, e.cockroachURL, pgx.QueryExecModeExec)
		if err != nil {
			return "", err
		}
		if _, err := a.Prepare(ctx, name, "SELECT 1"); err != nil {
			a.Close(ctx)
			return "", fmt.Errorf("Prepare on the first connection: %s", pgErr(err))
		}
		a.Close(ctx)
		b, err := connect(ctx, e.cockroachURL, pgx.QueryExecModeExec)
		if err != nil {
			return "", err
		}
		defer b.Close(context.Background())
		if _, err := b.Prepare(ctx, name, "SELECT 2"); err != nil {
			return "", fmt.Errorf("Prepare of the same name on a new connection after the first closed: %s", pgErr(err))
		}
		_ = b.Deallocate(ctx, name)
		return "name free again after the first connection closed", nil
	})

	// Last, because a twin that serializes sessions may stay blocked: an open transaction on one
	// connection must not stop another connection's statements (CockroachDB runs sessions concurrently).
	check("pgx.concurrent-sessions", 20*time.Second, func(ctx context.Context) (string, error) {
		c1, err := connect(ctx, e.cockroachURL, pgx.QueryExecModeExec)
		if err != nil {
			return "", err
		}
		defer c1.Close(context.Background())
		c2, err := connect(ctx, e.cockroachURL, pgx.QueryExecModeExec)
		if err != nil {
			return "", err
		}
		defer c2.Close(context.Background())
		tx, err := c1.Begin(ctx)
		if err != nil {
			return "", fmt.Errorf("BEGIN: %s", pgErr(err))
		}
		defer tx.Rollback(context.Background())
		var one int
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := c2.QueryRow(qctx, "SELECT 1").Scan(&one); err != nil {
			return "", fmt.Errorf("SELECT 1 on a second connection while the first holds an open transaction: %s after %s", pgErr(err), time.Since(start).Round(time.Millisecond))
		}
		return fmt.Sprintf("answered in %s", time.Since(start).Round(time.Millisecond)), nil
	})
}
