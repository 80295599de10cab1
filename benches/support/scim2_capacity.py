"""How many users the local scim2-server holds, and how fast it lists them.

Usage: python3 benches/support/scim2_capacity.py BASE_URL TOKEN [USERS] [BUDGET_S]

Creates users one POST at a time until USERS (default 10000) or BUDGET_S
seconds (default 120) are spent, and at every 1000 users times one listing
page of 100 (GET /Users?startIndex=...&count=100) from the end of the list.
Prints creates/s and the page time by size: what decides whether the bench
(benches/reconcile.rs) can use the real server.
"""
import json
import sys
import time
import urllib.request

base, token = sys.argv[1], sys.argv[2]
users = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
budget = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def page_ms(total):
    start = time.monotonic()
    page = call("GET", f"/Users?startIndex={max(1, total - 99)}&count=100")
    return (time.monotonic() - start) * 1000, len(page.get("Resources", []))


began = time.monotonic()
created = 0
print(f"{'users':>6} {'creates/s (last 1000)':>22} {'page of 100 (ms)':>17}")
last = began
while created < users and time.monotonic() - began < budget:
    call("POST", "/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "externalId": f"E{created:06d}", "userName": f"e{created:06d}@acme.test",
        "active": True, "roles": [{"value": "member", "primary": True}],
        "emails": [{"value": f"e{created:06d}@acme.test", "primary": True}],
    })
    created += 1
    if created % 1000 == 0:
        now = time.monotonic()
        ms, n = page_ms(created)
        print(f"{created:>6} {1000 / (now - last):>22.1f} {ms:>14.1f} ({n})", flush=True)
        last = time.monotonic()
elapsed = time.monotonic() - began
ms, n = page_ms(created)
print(f"created {created} users in {elapsed:.1f} s ({created / elapsed:.1f}/s); "
      f"last page of 100: {ms:.1f} ms ({n} users)")
