"""What the Python conformance suites share: the log of HTTP requests a check made, and one
"PASS|FAIL name: detail" line per check, with the requests of a failed check in its detail."""

import os
import traceback

REQUESTS = []


def report(status, name, detail):
    detail = " ".join(str(detail).split())
    if len(detail) > 600:
        detail = detail[:600] + "…"
    print(f"{status} {name}: {detail}", flush=True)


def check(name, fn):
    mark = len(REQUESTS)
    try:
        detail = fn()
        report("PASS", name, detail)
        return True
    except Exception as e:  # noqa: BLE001 - every failure is a result
        reqs = "; ".join(REQUESTS[mark:])
        msg = f"{type(e).__name__}: {e}"
        if os.environ.get("CONF_VERBOSE"):
            traceback.print_exc()
        report("FAIL", name, f"{msg}; requests: {reqs}" if reqs else msg)
        return False


def requests_since(mark):
    return "; ".join(REQUESTS[mark:])
