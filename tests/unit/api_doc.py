#!/usr/bin/env python3
"""api_doc.py SOURCE_ROOT - docs/api.yaml (OpenAPI 3.1) and the server's
route table (server/api/router.c) name the same routes, both ways, with the
same least role and the same public ones; and each documented operation has
its answers."""
import re
import sys

import yaml

root = sys.argv[1]
table = open(f"{root}/server/api/router.c").read()
routes = {}
for m in re.finditer(r'\{"(GET|POST|PUT|PATCH|DELETE)", "([^"]+)", (\w+), ([^,]+), ([^,]+),', table):
    method, path, _fn, flags, role = m.groups()
    public = "PUBLIC" in flags
    role = {"REG_VIEWER": "viewer", "REG_OPERATOR": "operator", "REG_OWNER": "owner"}.get(role.strip())
    routes[(method, path)] = (public, None if public else role)
if len(routes) < 20:
    sys.exit(f"only {len(routes)} routes found in router.c: has its table changed shape?")

doc = yaml.safe_load(open(f"{root}/docs/api.yaml"))
bad = []
if not str(doc.get("openapi", "")).startswith("3.1"):
    bad.append("openapi: want 3.1.x")
documented = {}
for path, item in doc["paths"].items():
    for method, op in item.items():
        if method in ("parameters", "summary", "description"):
            continue
        public = op.get("security") == []
        documented[(method.upper(), path)] = (public, None if public else op.get("x-role"))
        if not op.get("responses"):
            bad.append(f"{method.upper()} {path}: no responses")
        if not op.get("summary"):
            bad.append(f"{method.upper()} {path}: no summary")

for r in sorted(set(routes) - set(documented)):
    bad.append(f"{r[0]} {r[1]}: served, not in docs/api.yaml")
for r in sorted(set(documented) - set(routes)):
    bad.append(f"{r[0]} {r[1]}: in docs/api.yaml, not served")
for r in sorted(set(routes) & set(documented)):
    if routes[r] != documented[r]:
        bad.append(f"{r[0]} {r[1]}: served as {routes[r]}, documented as {documented[r]}")
if bad:
    print("\n".join(bad))
    sys.exit(1)
print(f"{len(routes)} routes: each served and documented alike")
