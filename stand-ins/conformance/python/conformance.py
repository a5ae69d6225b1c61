"""Cloud Storage checks with google-cloud-storage (python-storage) against the GCP emulator.

Pointing: client_options={"api_endpoint": CONF_GCP_ENDPOINT} with explicit service-account
credentials. STORAGE_EMULATOR_HOST is not used: with it python-storage falls back to
AnonymousCredentials (google/cloud/storage/client.py Client.__init__, "Authentication may be
bypassed ... STORAGE_EMULATOR_HOST is set"), and the emulator requires a bearer token.
The credentials' token_uri (the emulator's /token) is honoured by google.oauth2.service_account.

Prints one line per check: "PASS|FAIL|SKIP name: detail". Exit status 0 when it ran to the end.
"""

import hashlib
import os
import secrets
import sys
import time

from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage
from google.oauth2 import service_account

from checks import REQUESTS, check, report, requests_since

ENDPOINT = os.environ["CONF_GCP_ENDPOINT"]
KEY_FILE = os.environ["CONF_ADMIN_KEY_FILE"]
PROJECT = os.environ["CONF_PROJECT"]


def log_response(response, *args, **kwargs):
    req = response.request
    path = req.url.split("?", 1)
    line = f"{req.method} {path[0].replace(ENDPOINT, '')}"
    if len(path) > 1 and "uploadType=" in path[1]:
        line += " uploadType=" + path[1].split("uploadType=", 1)[1].split("&", 1)[0]
    for h in ("Content-Range", "Range"):
        if req.headers.get(h):
            line += f" [{h} {req.headers[h]}]"
    line += f" -> {response.status_code}"
    REQUESTS.append(line)


def main():
    creds = service_account.Credentials.from_service_account_file(
        KEY_FILE, scopes=["https://www.googleapis.com/auth/devstorage.full_control"]
    )
    session = AuthorizedSession(creds)
    session.hooks["response"].append(log_response)
    client = storage.Client(
        project=PROJECT,
        credentials=creds,
        client_options={"api_endpoint": ENDPOINT},
        _http=session,
    )
    bucket_name = "conf-py-" + secrets.token_hex(4)
    small = b'{"instance_id":"i1","event_type":"user.added"}\n'
    large = secrets.token_bytes(16 << 20)
    names = {
        "small": "cf/2026-11-28/small.ndjson",
        "large_default": "cf/large-default.bin",
        "large_chunked": "cf/large-chunked.bin",
        "top": "cf/top.ndjson",
    }
    bucket = client.bucket(bucket_name)

    def create_bucket():
        b = client.create_bucket(bucket_name)
        return f"bucket {b.name} location {b.location}"

    if not check("py.storage.bucket-create", create_bucket):
        return

    def upload_small():
        mark = len(REQUESTS)
        blob = bucket.blob(names["small"])
        blob.metadata = {"source": "conformance"}
        blob.upload_from_string(small, content_type="application/x-ndjson")
        if blob.size != len(small):
            raise AssertionError(f"blob.size after upload = {blob.size}, want {len(small)}")
        return f"{len(small)} bytes; requests: {requests_since(mark)}"

    check("py.storage.upload-small", upload_small)

    def upload_large_default():
        # Default chunk_size (None): > 8 MiB goes resumable in one request (blob.py _MAX_MULTIPART_SIZE).
        mark = len(REQUESTS)
        blob = bucket.blob(names["large_default"])
        blob.upload_from_string(large, content_type="application/octet-stream")
        if blob.size != len(large) or blob.md5_hash is None:
            raise AssertionError(f"blob.size={blob.size} md5_hash={blob.md5_hash}")
        return f"{len(large)} bytes; requests: {requests_since(mark)}"

    check("py.storage.upload-16MiB-default", upload_large_default)

    def upload_large_chunked():
        mark = len(REQUESTS)
        blob = bucket.blob(names["large_chunked"], chunk_size=5 * 1024 * 1024)  # a multiple of 256 KiB
        blob.upload_from_string(large, content_type="application/octet-stream")
        reqs = REQUESTS[mark:]
        chunks = [r for r in reqs if "[Content-Range bytes " in r]
        if len(chunks) < 4:
            raise AssertionError(f"expected >= 4 chunk requests; requests: {'; '.join(reqs)}")
        if blob.size != len(large):
            raise AssertionError(f"blob.size={blob.size}, want {len(large)}")
        return f"{len(large)} bytes in {len(chunks)} chunks; requests: {'; '.join(reqs)}"

    check("py.storage.upload-16MiB-chunked", upload_large_chunked)

    bucket.blob(names["top"]).upload_from_string(b"{}\n")

    def download(name, want, **kw):
        def run():
            mark = len(REQUESTS)
            got = bucket.blob(name).download_as_bytes(**kw)
            start = kw.get("start", 0) or 0
            end = kw.get("end")
            expect = want[start : (end + 1 if end is not None else len(want))]
            if got != expect:
                raise AssertionError(
                    f"got {len(got)} bytes, want {len(expect)} (equal prefix: {got[:len(expect)] == expect[:len(got)]}); requests: {requests_since(mark)}"
                )
            return f"{len(got)} bytes; requests: {requests_since(mark)}"

        return run

    check("py.storage.download-small", download(names["small"], small))
    check("py.storage.download-16MiB", download(names["large_chunked"], large))
    check("py.storage.download-range", download(names["large_chunked"], large, start=5 * 1024 * 1024 - 100, end=5 * 1024 * 1024 + 99))

    def download_via_media_link():
        # After reload() the blob has mediaLink, and download_as_bytes uses it (blob.py _get_download_url).
        mark = len(REQUESTS)
        blob = bucket.get_blob(names["small"])
        got = blob.download_as_bytes()
        if got != small:
            raise AssertionError(f"got {len(got)} bytes, want {len(small)}")
        return f"mediaLink {blob.media_link.replace(ENDPOINT, '')}; requests: {requests_since(mark)}"

    check("py.storage.download-via-mediaLink", download_via_media_link)

    def list_delimiter():
        it = client.list_blobs(bucket_name, prefix="cf/", delimiter="/")
        got = sorted(b.name for b in it)
        prefixes = sorted(it.prefixes)
        want = sorted([names["large_default"], names["large_chunked"], names["top"]])
        want_prefixes = ["cf/2026-11-28/"]
        if got != want or prefixes != want_prefixes:
            raise AssertionError(f"list_blobs(prefix='cf/', delimiter='/'): names {got} prefixes {prefixes}; want names {want} prefixes {want_prefixes}")
        return f"names {got} prefixes {prefixes}"

    check("py.storage.list-delimiter", list_delimiter)

    def reload_metadata():
        problems = []
        blob = bucket.blob(names["small"])
        blob.reload()
        if blob.size != len(small):
            problems.append(f"size={blob.size} want {len(small)}")
        if blob.content_type != "application/x-ndjson":
            problems.append(f"content_type={blob.content_type!r}")
        if blob.metadata != {"source": "conformance"}:
            problems.append(f"metadata={blob.metadata!r}")
        import base64

        if blob.md5_hash != base64.b64encode(hashlib.md5(small).digest()).decode():
            problems.append(f"md5_hash={blob.md5_hash!r}")
        if not blob.generation or not blob.crc32c or not blob.etag:
            problems.append(f"generation={blob.generation!r} crc32c={blob.crc32c!r} etag={blob.etag!r}")
        big = bucket.blob(names["large_chunked"])
        big.reload()
        if big.size != len(large):
            problems.append(f"16 MiB size={big.size}")
        if problems:
            raise AssertionError("; ".join(problems))
        return f"size {blob.size}, {blob.content_type}, metadata {blob.metadata}, generation {blob.generation}"

    check("py.storage.reload-metadata", reload_metadata)

    def cleanup():
        errs = []
        for b in client.list_blobs(bucket_name):
            try:
                b.delete()
            except Exception as e:  # noqa: BLE001
                errs.append(f"{b.name}: {e}")
        bucket.delete()
        if errs:
            raise AssertionError("; ".join(errs))
        return "objects and bucket deleted"

    check("py.storage.delete", cleanup)


if __name__ == "__main__":
    t0 = time.time()
    try:
        main()
    except Exception as e:  # noqa: BLE001
        report("FAIL", "py.storage.setup", f"{type(e).__name__}: {e}")
    sys.exit(0)
