package main

// Cloud Storage checks with cloud.google.com/go/storage, set up the way CockroachDB's GCS
// external-storage provider (which the changefeed cloud-storage sink writes through) sets it up.
//
// Source: cockroachdb/cockroach pkg/cloud/gcp/gcs_storage.go (master):
//   - makeGCSStorage: AUTH=specified → createAuthOptionFromServiceAccountKey =
//     option.WithCredentialsJSON(base64-decoded CREDENTIALS), plus option.WithScopes(gcs.ScopeReadWrite);
//     those options go to gtransport.NewTransport(ctx, baseTransport, opts...) (google.golang.org/api/transport/http),
//     the resulting http.Client is the only option given to gcs.NewClient (option.WithHTTPClient);
//     then g.SetRetry(gcs.WithErrorFunc(shouldRetry)) and g.SetRetry(gcs.WithPolicy(gcs.RetryAlways)).
//     No option.WithEndpoint: the only way to point CockroachDB at an emulator is STORAGE_EMULATOR_HOST,
//     which cloud.google.com/go/storage NewClient (storage.go) turns into the endpoint
//     "<host>/storage/v1/" for JSON calls and into the XML host for reads.
//   - gcsStorage.Writer: bucket.Object(path.Join(prefix, name)).NewWriter(ctx), ChunkSize =
//     cloudstorage.write_chunk.size (default 5 MiB, pkg/cloud/cloud_io.go WriteChunkSize), ChunkRetryDeadline =
//     cloudstorage.gs.chunking.retry_timeout (default 60 s). No ContentType is set.
//   - gcsStorage.ReadFile: NewRangeReader(ctx, pos, length) (length -1 without a hint).
//   - gcsStorage.List: bucket.Objects(ctx, &gcs.Query{Prefix, Delimiter}); attrs.Prefix for prefixes.
//   - gcsStorage.Delete: Object.Delete; ErrObjectNotExist is treated as success.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	gtransport "google.golang.org/api/transport/http"
)

// recorder is the base transport under the auth transport: it notes every request the client sends.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	line := req.Method + " " + req.URL.EscapedPath()
	if q := req.URL.Query().Get("uploadType"); q != "" {
		line += " uploadType=" + q
	}
	if cr := req.Header.Get("Content-Range"); cr != "" {
		line += " [" + cr + "]"
	}
	if rg := req.Header.Get("Range"); rg != "" {
		line += " [Range " + rg + "]"
	}
	res, err := r.base.RoundTrip(req)
	if err == nil {
		line += fmt.Sprintf(" -> %d", res.StatusCode)
	} else {
		line += " -> " + err.Error()
	}
	r.mu.Lock()
	r.log = append(r.log, line)
	r.mu.Unlock()
	return res, err
}

func (r *recorder) since(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log[n:]...)
}

func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

// newCockroachStyleClient builds the client as makeGCSStorage does (see the file comment).
func newCockroachStyleClient(ctx context.Context, e env, extra ...option.ClientOption) (*gcs.Client, *recorder, error) {
	// STORAGE_EMULATOR_HOST is what the runner sets for CockroachDB-like use; set it here too so
	// the program can be run by hand.
	if os.Getenv("STORAGE_EMULATOR_HOST") == "" {
		os.Setenv("STORAGE_EMULATOR_HOST", e.endpoint)
	}
	keyJSON, err := os.ReadFile(e.adminKeyFile)
	if err != nil {
		return nil, nil, err
	}
	rec := &recorder{base: http.DefaultTransport.(*http.Transport).Clone()}
	//lint:ignore SA1019 CockroachDB uses option.WithCredentialsJSON (createAuthOptionFromServiceAccountKey).
	opts := []option.ClientOption{option.WithScopes(gcs.ScopeReadWrite), option.WithCredentialsJSON(keyJSON)}
	t, err := gtransport.NewTransport(ctx, rec, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("gtransport.NewTransport: %w", err)
	}
	client, err := gcs.NewClient(ctx, append([]option.ClientOption{option.WithHTTPClient(&http.Client{Transport: t})}, extra...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("storage.NewClient: %w", err)
	}
	// CockroachDB's shouldRetry is google-cloud-go's default predicate plus http2 INTERNAL_ERROR.
	client.SetRetry(gcs.WithErrorFunc(gcs.ShouldRetry))
	client.SetRetry(gcs.WithPolicy(gcs.RetryAlways))
	return client, rec, nil
}

const chunkSize = 5 << 20 // cloudstorage.write_chunk.size default

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%x", prefix, b)
}

// cockroachWrite writes data as gcsStorage.Writer does.
func cockroachWrite(ctx context.Context, b *gcs.BucketHandle, name string, data []byte, contentType string) (*gcs.ObjectAttrs, error) {
	return cockroachWriteChunked(ctx, b, name, data, contentType, chunkSize)
}

// cockroachWriteChunked: chunk 0 is CockroachDB with cloudstorage.gs.chunking.enabled = false.
func cockroachWriteChunked(ctx context.Context, b *gcs.BucketHandle, name string, data []byte, contentType string, chunk int) (*gcs.ObjectAttrs, error) {
	w := b.Object(name).NewWriter(ctx)
	w.ChunkSize = chunk
	w.ChunkRetryDeadline = 60 * time.Second
	if contentType != "" {
		w.ContentType = contentType
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("write: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("close: %w", err)
	}
	return w.Attrs(), nil
}

func readAll(ctx context.Context, b *gcs.BucketHandle, name string, off, length int64) ([]byte, *gcs.Reader, error) {
	r, err := b.Object(name).NewRangeReader(ctx, off, length)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return data, r, err
}

func describeDiff(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d bytes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("bytes differ from offset %d", i)
		}
	}
	return "equal"
}

func runStorage(e env) {
	ctx := context.Background()
	client, rec, err := newCockroachStyleClient(ctx, e)
	if err != nil {
		fail("go.storage.client", "%v", err)
		return
	}
	defer client.Close()
	bucketName := randomName("conf-go")
	bucket := client.Bucket(bucketName)

	// CockroachDB never creates buckets; the provider does. Created here with the same client.
	if !check("go.storage.bucket-create", 30*time.Second, func(ctx context.Context) (string, error) {
		if err := bucket.Create(ctx, e.project, nil); err != nil {
			return "", err
		}
		return "bucket " + bucketName, nil
	}) {
		return
	}

	small := []byte(`{"instance_id":"i1","event_type":"user.added","position":1732800000.0000000001}` + "\n")
	large := make([]byte, 16<<20)
	_, _ = rand.Read(large)
	smallName, largeName := "cf/2026-11-28/small.ndjson", "cf/large.bin"

	check("go.storage.write-small", 60*time.Second, func(ctx context.Context) (string, error) {
		m := rec.mark()
		attrs, err := cockroachWrite(ctx, bucket, smallName, small, "application/x-ndjson")
		reqs := rec.since(m)
		if err != nil {
			return "", fmt.Errorf("%v; requests: %s", err, strings.Join(reqs, "; "))
		}
		if attrs.Size != int64(len(small)) {
			return "", fmt.Errorf("Writer.Attrs().Size = %d, want %d", attrs.Size, len(small))
		}
		if attrs.CRC32C != crc32.Checksum(small, crc32.MakeTable(crc32.Castagnoli)) {
			return "", fmt.Errorf("Writer.Attrs().CRC32C = %08x, want %08x", attrs.CRC32C, crc32.Checksum(small, crc32.MakeTable(crc32.Castagnoli)))
		}
		return fmt.Sprintf("%d bytes; requests: %s", len(small), strings.Join(reqs, "; ")), nil
	})

	// First with chunking off (cloudstorage.gs.chunking.enabled = false: one multipart request), so
	// the read checks below have the object even when the resumable upload fails.
	check("go.storage.write-16MiB-unchunked", 120*time.Second, func(ctx context.Context) (string, error) {
		m := rec.mark()
		attrs, err := cockroachWriteChunked(ctx, bucket, largeName, large, "", 0)
		reqs := rec.since(m)
		if err != nil {
			return "", fmt.Errorf("%v; requests: %s", err, strings.Join(reqs, "; "))
		}
		sum := md5.Sum(large)
		if attrs.Size != int64(len(large)) || !bytes.Equal(attrs.MD5, sum[:]) {
			return "", fmt.Errorf("Writer.Attrs() Size=%d MD5=%x, want %d and %x", attrs.Size, attrs.MD5, len(large), sum)
		}
		return fmt.Sprintf("%d bytes; requests: %s", len(large), strings.Join(reqs, "; ")), nil
	})

	check("go.storage.write-16MiB-resumable", 180*time.Second, func(ctx context.Context) (string, error) {
		m := rec.mark()
		attrs, err := cockroachWrite(ctx, bucket, largeName, large, "")
		reqs := rec.since(m)
		if err != nil {
			return "", fmt.Errorf("%v; requests: %s", err, strings.Join(reqs, "; "))
		}
		puts := 0
		resumable := false
		for _, r := range reqs {
			if strings.Contains(r, "uploadType=resumable") && strings.HasPrefix(r, "POST") {
				resumable = true
			}
			if strings.Contains(r, "[bytes ") {
				puts++ // chunk requests carry Content-Range (gensupport sends them as POST to the session URI)
			}
		}
		if !resumable || puts < 4 {
			return "", fmt.Errorf("expected a resumable upload in >= 4 chunks of 5 MiB; requests: %s", strings.Join(reqs, "; "))
		}
		if attrs.Size != int64(len(large)) {
			return "", fmt.Errorf("Writer.Attrs().Size = %d, want %d; requests: %s", attrs.Size, len(large), strings.Join(reqs, "; "))
		}
		sum := md5.Sum(large)
		if !bytes.Equal(attrs.MD5, sum[:]) {
			return "", fmt.Errorf("Writer.Attrs().MD5 = %x, want %x (stored content differs from what was sent); requests: %s", attrs.MD5, sum, strings.Join(reqs, "; "))
		}
		return fmt.Sprintf("%d bytes in %d chunk requests: %s", len(large), puts, strings.Join(reqs, "; ")), nil
	})

	check("go.storage.read-small-whole", 30*time.Second, func(ctx context.Context) (string, error) {
		m := rec.mark()
		r, err := bucket.Object(smallName).NewReader(ctx)
		if err != nil {
			return "", fmt.Errorf("NewReader: %v; requests: %s", err, strings.Join(rec.since(m), "; "))
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil {
			return "", fmt.Errorf("read: %v", err)
		}
		if !bytes.Equal(got, small) {
			return "", fmt.Errorf("content: %s", describeDiff(got, small))
		}
		return fmt.Sprintf("%d bytes; requests: %s", len(got), strings.Join(rec.since(m), "; ")), nil
	})

	// wholeRead reads the large object in one piece through b and checks its bytes and its size:
	// CockroachDB's ReadFile and Size return Reader.Attrs.Size as the file size.
	wholeRead := func(name string, b *gcs.BucketHandle, rec *recorder, sizeHint string) {
		check(name, 60*time.Second, func(ctx context.Context) (string, error) {
			m := rec.mark()
			got, r, err := readAll(ctx, b, largeName, 0, -1)
			if err != nil {
				return "", fmt.Errorf("%v; requests: %s", err, strings.Join(rec.since(m), "; "))
			}
			if !bytes.Equal(got, large) {
				return "", fmt.Errorf("content: %s", describeDiff(got, large))
			}
			if r.Attrs.Size != int64(len(large)) {
				return "", fmt.Errorf("content equal, but Reader.Attrs.Size = %d, want %d%s; requests: %s", r.Attrs.Size, len(large), sizeHint, strings.Join(rec.since(m), "; "))
			}
			return fmt.Sprintf("%d bytes; requests: %s", len(got), strings.Join(rec.since(m), "; ")), nil
		})
	}
	wholeRead("go.storage.read-16MiB-whole", bucket, rec, "")

	rangeCheck := func(name, object string, data []byte, off, length int64) {
		check(name, 60*time.Second, func(ctx context.Context) (string, error) {
			m := rec.mark()
			got, r, err := readAll(ctx, bucket, object, off, length)
			if err != nil {
				return "", fmt.Errorf("NewRangeReader(%d, %d): %v; requests: %s", off, length, err, strings.Join(rec.since(m), "; "))
			}
			end := int64(len(data))
			if length >= 0 && off+length < end {
				end = off + length
			}
			want := data[off:end]
			if !bytes.Equal(got, want) {
				return "", fmt.Errorf("NewRangeReader(%d, %d): %s; requests: %s", off, length, describeDiff(got, want), strings.Join(rec.since(m), "; "))
			}
			if r.Attrs.Size != int64(len(data)) || r.Attrs.StartOffset != off {
				return "", fmt.Errorf("Reader.Attrs Size=%d StartOffset=%d, want %d and %d", r.Attrs.Size, r.Attrs.StartOffset, len(data), off)
			}
			return fmt.Sprintf("NewRangeReader(%d, %d) = %d bytes; requests: %s", off, length, len(got), strings.Join(rec.since(m), "; ")), nil
		})
	}
	rangeCheck("go.storage.range-read-small", smallName, small, 10, 20)
	rangeCheck("go.storage.range-read-16MiB", largeName, large, chunkSize-100, 200)
	rangeCheck("go.storage.range-read-16MiB-tail", largeName, large, int64(len(large))-1000, -1) // ReadFile at an offset

	// Not CockroachDB's configuration: the same reads through the JSON API (storage.WithJSONReads),
	// to tell a missing XML read path apart from missing Range support.
	if jsonClient, jrec, err := newCockroachStyleClient(ctx, e, gcs.WithJSONReads()); err == nil {
		jb := jsonClient.Bucket(bucketName)
		wholeRead("go.storage.json-api-read-whole", jb, jrec, " (no Content-Length on the media response?)")
		check("go.storage.json-api-range-read", 60*time.Second, func(ctx context.Context) (string, error) {
			m := jrec.mark()
			got, _, err := readAll(ctx, jb, largeName, chunkSize-100, 200)
			if err != nil {
				return "", fmt.Errorf("%v; requests: %s", err, strings.Join(jrec.since(m), "; "))
			}
			if !bytes.Equal(got, large[chunkSize-100:chunkSize+100]) {
				return "", fmt.Errorf("content: %s; requests: %s", describeDiff(got, large[chunkSize-100:chunkSize+100]), strings.Join(jrec.since(m), "; "))
			}
			return fmt.Sprintf("%d bytes; requests: %s", len(got), strings.Join(jrec.since(m), "; ")), nil
		})
		jsonClient.Close()
	}

	check("go.storage.attrs", 30*time.Second, func(ctx context.Context) (string, error) {
		var problems []string
		a, err := bucket.Object(smallName).Attrs(ctx)
		if err != nil {
			return "", err
		}
		if a.Size != int64(len(small)) {
			problems = append(problems, fmt.Sprintf("small Size=%d want %d", a.Size, len(small)))
		}
		if a.ContentType != "application/x-ndjson" {
			problems = append(problems, fmt.Sprintf("small ContentType=%q want %q", a.ContentType, "application/x-ndjson"))
		}
		b, err := bucket.Object(largeName).Attrs(ctx)
		if err != nil {
			return "", err
		}
		if b.Size != int64(len(large)) {
			problems = append(problems, fmt.Sprintf("large Size=%d want %d", b.Size, len(large)))
		}
		// No ContentType set (as CockroachDB): the client sniffs random bytes as application/octet-stream.
		if b.ContentType != "application/octet-stream" {
			problems = append(problems, fmt.Sprintf("large ContentType=%q want application/octet-stream", b.ContentType))
		}
		if b.CRC32C != crc32.Checksum(large, crc32.MakeTable(crc32.Castagnoli)) {
			problems = append(problems, "large CRC32C mismatch")
		}
		if len(problems) > 0 {
			return "", errors.New(strings.Join(problems, "; "))
		}
		return fmt.Sprintf("small %d %s, large %d %s", a.Size, a.ContentType, b.Size, b.ContentType), nil
	})

	// More objects for the listing: cf/ holds two files and two "directories".
	extra := []string{"cf/2026-11-28/b.ndjson", "cf/2026-11-29/c.ndjson", "cf/top.ndjson"}
	for _, n := range extra {
		if _, err := cockroachWrite(ctx, bucket, n, []byte("{}\n"), ""); err != nil {
			fail("go.storage.list-setup", "writing %s: %v", n, err)
		}
	}
	list := func(ctx context.Context, q *gcs.Query) (names, prefixes []string, err error) {
		it := bucket.Objects(ctx, q)
		for {
			a, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				return nil, nil, err
			}
			if a.Name == "" {
				prefixes = append(prefixes, a.Prefix)
			} else {
				names = append(names, a.Name)
			}
		}
		sort.Strings(names)
		sort.Strings(prefixes)
		return names, prefixes, nil
	}
	check("go.storage.list-prefix-delimiter", 30*time.Second, func(ctx context.Context) (string, error) {
		names, prefixes, err := list(ctx, &gcs.Query{Prefix: "cf/", Delimiter: "/"})
		if err != nil {
			return "", err
		}
		wantNames := []string{"cf/large.bin", "cf/top.ndjson"}
		wantPrefixes := []string{"cf/2026-11-28/", "cf/2026-11-29/"}
		if strings.Join(names, ",") != strings.Join(wantNames, ",") || strings.Join(prefixes, ",") != strings.Join(wantPrefixes, ",") {
			return "", fmt.Errorf("Query{Prefix:\"cf/\", Delimiter:\"/\"}: names %v prefixes %v; want names %v prefixes %v", names, prefixes, wantNames, wantPrefixes)
		}
		return fmt.Sprintf("names %v prefixes %v", names, prefixes), nil
	})
	check("go.storage.list-prefix", 30*time.Second, func(ctx context.Context) (string, error) {
		names, prefixes, err := list(ctx, &gcs.Query{Prefix: "cf/2026-11-28/"})
		if err != nil {
			return "", err
		}
		want := []string{"cf/2026-11-28/b.ndjson", smallName}
		sort.Strings(want)
		if strings.Join(names, ",") != strings.Join(want, ",") || len(prefixes) != 0 {
			return "", fmt.Errorf("names %v prefixes %v; want names %v", names, prefixes, want)
		}
		return fmt.Sprintf("names %v", names), nil
	})

	check("go.storage.delete", 60*time.Second, func(ctx context.Context) (string, error) {
		all := append([]string{smallName, largeName}, extra...)
		var errs []string
		for _, n := range all {
			if err := bucket.Object(n).Delete(ctx); err != nil {
				errs = append(errs, fmt.Sprintf("Delete(%s): %v", n, err))
			}
		}
		if len(errs) > 0 {
			return "", errors.New(strings.Join(errs, "; "))
		}
		if _, err := bucket.Object(largeName).Attrs(ctx); !errors.Is(err, gcs.ErrObjectNotExist) {
			return "", fmt.Errorf("Attrs after delete: %v, want storage.ErrObjectNotExist", err)
		}
		if err := bucket.Object(largeName).Delete(ctx); !errors.Is(err, gcs.ErrObjectNotExist) {
			return "", fmt.Errorf("second Delete: %v, want storage.ErrObjectNotExist", err)
		}
		if err := bucket.Delete(ctx); err != nil {
			return "", fmt.Errorf("bucket Delete: %w", err)
		}
		return fmt.Sprintf("deleted %d objects and the bucket", len(all)), nil
	})
}
