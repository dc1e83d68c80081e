"""Starts Liaison on free loopback ports and runs schemathesis over every
operation of the API in two passes, each as an admin of its own (an
operation of one pass may change or revoke whatever its caller holds,
never the other's):

1. the session and token operations (logging out, revoking tokens,
   changing the password) as the first admin, with an API token the pass
   may well revoke: every operation documents 401, so what follows stays
   within the contract;
2. every other operation as a second admin created for it (it may reach
   any user through the listing, the first admin included, which is why
   it runs last).

Exits non-zero when either pass finds a failure or Liaison stops."""

import argparse
import json
import os
import random
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from liaison_process import ADMIN, running  # noqa: E402

SECOND_ADMIN = "contract@localhost"
PASSWORD = "contract-test-password"
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
])
OWN_ACCOUNT = "^/api/(session|tokens)"


def call(base, method, path, body=None, headers=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.headers, json.loads(answer.read() or b"null")


def api_token(base, email, name):
    headers, session = call(base, "POST", "/api/session", {"email": email, "password": PASSWORD})
    cookie = headers["set-cookie"].split(";", 1)[0]
    _, created = call(
        base, "POST", "/api/tokens", {"name": name},
        {"cookie": cookie, "x-csrf-token": session["csrf_token"]},
    )
    return created["secret"]


def second_admin(base, token):
    call(
        base, "POST", "/api/users",
        {"email": SECOND_ADMIN, "display_name": "Contract", "role": "admin", "password": PASSWORD},
        {"authorization": f"Bearer {token}"},
    )


def schemathesis(st, base, token, seed, examples, selection, report):
    command = [
        st, "run", base + "/api/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--max-examples", str(examples),
        "--seed", str(seed),
        "--workers", "2",
        "--no-color",
        "--report", "junit", "--report-junit-path", report,
        *selection,
    ]
    return subprocess.run(command).returncode


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--liaison", required=True)
    parser.add_argument("--schemathesis", required=True)
    parser.add_argument("--examples", type=int, default=30)
    parser.add_argument("--seed", default="20261201")
    arguments = parser.parse_args()
    seed = random.randrange(2**32) if arguments.seed == "random" else int(arguments.seed)
    reports = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "artefacts", "contract")
    os.makedirs(reports, exist_ok=True)

    log = os.path.join(reports, "liaison.log")
    with running(arguments.liaison, PASSWORD, log, "contract") as (liaison, base):
        print(f"contract: seed {seed}, {arguments.examples} examples per operation", flush=True)
        own_account = api_token(base, ADMIN, "contract-own-account")
        second_admin(base, own_account)
        operations = api_token(base, SECOND_ADMIN, "contract")
        failed = schemathesis(
            arguments.schemathesis, base, own_account, seed,
            arguments.examples, ["--include-path-regex", OWN_ACCOUNT],
            os.path.join(reports, "own-account.xml"),
        )
        failed |= schemathesis(
            arguments.schemathesis, base, operations, seed,
            arguments.examples, ["--exclude-path-regex", OWN_ACCOUNT],
            os.path.join(reports, "operations.xml"),
        )
        if liaison.poll() is not None:
            sys.exit(f"contract: liaison stopped during the run (exit {liaison.returncode})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
