"""Secret Manager v1 and Cloud Run Admin v2 checks with Google's Python clients (google-cloud-secret-manager,
google-cloud-run) over their REST transports against the GCP emulator: what the engine's runtime uses
(docs/cloud-run-runtime.md). The clients poll Cloud Run's long-running operations themselves
(GET /v2/{operation name}), so their shape is checked by a real client.

Pointing: client_options={"api_endpoint": CONF_GCP_ENDPOINT} (a scheme-bearing host is kept by the REST
transports) with the admin key's credentials, whose token_uri is the emulator's.

The emulator runs no image here (the suite cannot register one in its process): the service is made
with manualInstanceCount 0, which needs none, and an update to an image the emulator lacks must fail
its operation with code 13, as a revision that cannot start does.

Prints one line per check: "PASS|FAIL|SKIP name: detail". Exit status 0 when it ran to the end.
"""

import os
import re
import secrets

from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.cloud import run_v2, secretmanager_v1
from google.oauth2 import service_account

from checks import check

ENDPOINT = os.environ["CONF_GCP_ENDPOINT"]
KEY_FILE = os.environ["CONF_ADMIN_KEY_FILE"]
PROJECT = os.environ["CONF_PROJECT"]
CREDS = service_account.Credentials.from_service_account_file(KEY_FILE, scopes=["https://www.googleapis.com/auth/cloud-platform"])
OPTS = ClientOptions(api_endpoint=ENDPOINT)


def main():
    sm = secretmanager_v1.SecretManagerServiceClient(credentials=CREDS, client_options=OPTS, transport="rest")
    sid = "conf-" + secrets.token_hex(4)
    state = {}

    def create():
        s = sm.create_secret(parent=f"projects/{PROJECT}", secret_id=sid, secret={"replication": {"automatic": {}}, "labels": {"k": "v"}})
        assert re.fullmatch(rf"projects/\d+/secrets/{sid}", s.name), s.name
        state["name"] = s.name
        return s.name

    def add_and_access():
        v = sm.add_secret_version(parent=state["name"], payload={"data": b"hunter2"})
        assert v.name == state["name"] + "/versions/1" and v.state == secretmanager_v1.SecretVersion.State.ENABLED, v
        got = sm.access_secret_version(name=f"projects/{PROJECT}/secrets/{sid}/versions/latest")
        assert got.payload.data == b"hunter2", got
        return f"{v.name}; latest read back"

    def disabled():
        sm.disable_secret_version(name=state["name"] + "/versions/1")
        try:
            sm.access_secret_version(name=state["name"] + "/versions/1")
        except exceptions.GoogleAPICallError as e:
            # HTTP 400 with status FAILED_PRECONDITION (docs/cloud-run-runtime.md §1.2): the REST client maps by the HTTP code.
            assert e.code == 400 and "DISABLED state" in e.message, (e.code, e.message)
            return f"{type(e).__name__} ({e.code}): {e.message}"
        raise AssertionError("access to a disabled version was not refused")

    def iam():
        member = f"serviceAccount:{CREDS.service_account_email}"
        p = sm.get_iam_policy(request={"resource": state["name"]})
        p.bindings.add(role="roles/secretmanager.secretAccessor", members=[member])
        sm.set_iam_policy(request={"resource": state["name"], "policy": p})
        back = sm.get_iam_policy(request={"resource": state["name"]})
        assert [(b.role, list(b.members)) for b in back.bindings] == [("roles/secretmanager.secretAccessor", [member])], back
        return "accessor bound and read back"

    def delete():
        sm.delete_secret(name=state["name"])
        try:
            sm.get_secret(name=state["name"])
        except exceptions.NotFound:
            return "gone (404)"
        raise AssertionError("still there")

    for name, fn in [("create", create), ("version", add_and_access), ("disabled", disabled), ("iam", iam), ("delete", delete)]:
        if not check(f"secretmanager.{name}", fn) and name == "create":
            break

    run = run_v2.ServicesClient(credentials=CREDS, client_options=OPTS, transport="rest")
    parent = f"projects/{PROJECT}/locations/europe-west1"
    svc = "conf-" + secrets.token_hex(4)

    def service(image, count):
        return run_v2.Service(
            labels={"k": "v"},
            scaling=run_v2.ServiceScaling(scaling_mode=run_v2.ServiceScaling.ScalingMode.MANUAL, manual_instance_count=count),
            template=run_v2.RevisionTemplate(
                service_account=CREDS.service_account_email,
                containers=[run_v2.Container(image=image, resources=run_v2.ResourceRequirements(limits={"cpu": "1", "memory": "1Gi"}, cpu_idle=False))],
            ),
        )

    def run_create():
        op = run.create_service(parent=parent, service=service("europe-west1-docker.pkg.dev/p/r/none:1", 0), service_id=svc)
        s = op.result(timeout=60)
        assert s.name == f"{parent}/services/{svc}", s.name
        assert s.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED, s.terminal_condition
        assert s.generation == 1 and not s.reconciling, s
        return f"{s.name}, {s.terminal_condition.state.name}"

    def run_conflict():
        try:
            run.create_service(parent=parent, service=service("x/y:1", 0), service_id=svc)
        except exceptions.Conflict as e:
            return f"Conflict: {e.message}"
        raise AssertionError("a second create was not refused")

    def run_failed_update():
        s = run.get_service(name=f"{parent}/services/{svc}")
        s.template.containers[0].image = "quay.io/nowhere/none:1"
        s.scaling.manual_instance_count = 1
        op = run.update_service(service=s)
        try:
            op.result(timeout=60)
        except exceptions.GoogleAPICallError as e:
            assert e.code == 500 or getattr(e, "grpc_status_code", None) is not None, e
            assert "is not ready and cannot serve traffic" in e.message, e.message
            return f"{type(e).__name__}: {e.message}"
        raise AssertionError("the rollout of an image that cannot run did not fail")

    def run_delete():
        run.delete_service(name=f"{parent}/services/{svc}").result(timeout=60)
        try:
            run.get_service(name=f"{parent}/services/{svc}")
        except exceptions.NotFound:
            return "deleted; get is 404"
        raise AssertionError("still there")

    for name, fn in [("create", run_create), ("conflict", run_conflict), ("failed-update", run_failed_update), ("delete", run_delete)]:
        if not check(f"cloudrun.{name}", fn) and name == "create":
            break


if __name__ == "__main__":
    main()
