#!/usr/bin/env python3
"""Writes system/system.yaml: the `system` namespace's management API as a workflow.

Run from the repository root after changing the routes: python3 system/scripts/gen_system_yaml.py
The file is committed; weir embeds it (include_str!) and seeds it into a store without `system`.
"""
import json

RESOURCES = ["specs", "values", "charts"]

def spec(kind, name, **fields):
    s = {"kind": kind, "name": name}
    s.update(fields)
    return s

def link(*targets):
    return [{"name": t, "port": "in"} for t in targets]

ERRORS = "errors"
specs = []
public_routes = []   # router "public": before the token check
api_routes = []      # router "api": after it

def cel(name, code, to=None):
    s = spec("snippet", name, language="cel", code=code)
    s["ports"] = {"error": link(ERRORS)}
    if to:
        s["ports"]["out"] = link(to)
    specs.append(s)

def js(name, code, to):
    specs.append(spec("snippet", name, language="javascript", code=code,
                      ports={"out": link(to), "error": link(ERRORS)}))

def syscall(name, opcode, to):
    specs.append(spec("syscall", name, opcode=opcode,
                      ports={"out": link(to), "error": link(ERRORS)}))

def route(routes, method, path, target):
    routes.append((method, path, target))

# Responses by outcome.
cel("created", '{"status": 201, "body": self}')
cel("found", 'self == null ? {"status": 404, "body": {"error": "not found"}} : {"status": 200, "body": self}')
cel("ok", '{"status": 200, "body": self}')
cel("deleted", '{"status": 204}')
cel(ERRORS,
    '{"status": self.kind == "unsupported type" || self.kind == "unsupported value" ? 400 : '
    '(self.kind == "not found" ? 404 : (self.kind == "conflict" ? 409 : '
    '(self.kind == "unauthorized" ? 401 : (self.kind == "forbidden" ? 403 : 500)))), '
    '"body": {"error": self.error}}')
# The errors snippet answers on its own error port too? No: its failures are internal (500).
specs[-1]["ports"] = {}

BODY = 'has(self.body) ? self.body : null'
QUERY = 'has(self.query) ? self.query : {}'
WITH_ID = ('export default function (args) {\n'
           '  const q = Object.assign({}, args.query || {});\n'
           '  q.id = args.params.id;\n'
           '  return q;\n'
           '}\n')
PATCH_ID = ('export default function (args) {\n'
            '  const b = args.body;\n'
            '  if (b === null || b === undefined || typeof b !== "object" || Array.isArray(b)) {\n'
            '    return b === undefined ? null : (Array.isArray(b) ? "a list where one merge patch is expected" : b);\n'
            '  }\n'
            '  return Object.assign({}, b, { id: args.params.id });\n'
            '}\n')

for r in RESOURCES:
    for verb, answer in [("create", "created"), ("read", "found"), ("update", "ok"), ("delete", "deleted")]:
        syscall(f"{r}-{verb}", f"{r}.{verb}", answer)
    cel(f"{r}-post", BODY, f"{r}-create")
    cel(f"{r}-list", QUERY, f"{r}-read")
    js(f"{r}-get-id", WITH_ID, f"{r}-read")
    cel(f"{r}-patch", BODY, f"{r}-update")
    js(f"{r}-patch-id", PATCH_ID, f"{r}-update")
    cel(f"{r}-delete-filter", QUERY, f"{r}-delete")
    js(f"{r}-delete-id", WITH_ID, f"{r}-delete")
    route(api_routes, "POST", f"/v1/{r}", f"{r}-post")
    route(api_routes, "GET", f"/v1/{r}", f"{r}-list")
    route(api_routes, "GET", f"/v1/{r}/:id", f"{r}-get-id")
    route(api_routes, "PATCH", f"/v1/{r}", f"{r}-patch")
    route(api_routes, "PATCH", f"/v1/{r}/:id", f"{r}-patch-id")
    route(api_routes, "DELETE", f"/v1/{r}", f"{r}-delete-filter")
    route(api_routes, "DELETE", f"/v1/{r}/:id", f"{r}-delete-id")

# One resource by id (issue #6): `read` and `update` answer lists (uniflow's shape, so that uniflow's own
# system.yaml runs unchanged); the by-id routes answer the one resource, or 404 for an unknown id.
cel("found-one", 'self == null ? {"status": 404, "body": {"error": "not found"}} : {"status": 200, "body": self[0]}')
cel("ok-one", '{"status": 200, "body": self[0]}')

def by_id(r):
    syscall(f"{r}-read-one", f"{r}.read", "found-one")
    syscall(f"{r}-update-one", f"{r}.update", "ok-one")
    for s_ in specs:
        if s_["name"] == f"{r}-get-id":
            s_["ports"]["out"] = link(f"{r}-read-one")
        if s_["name"] == f"{r}-patch-id":
            s_["ports"]["out"] = link(f"{r}-update-one")

for r in RESOURCES:
    by_id(r)

# Watch streams (issue #6): GET /v1/<r>?watch=true upgrades to a WebSocket carrying each store change
# {op, id, namespace} as a JSON text frame, in order. `<r>.watch` checks ?namespace= against the token's
# reach (403 outside it) and adds `reach` to the request; the gateway answers 101 and the session keeps
# the request per connection; the signal's events go to every session, each kept only when its
# namespace is within that session's reach.
def watch(r):
    check, socket, session = f"{r}-watch-check", f"{r}-watch-socket", f"{r}-watch-session"
    filt, event = f"{r}-watch-filter", f"{r}-watch-event"
    specs.append(spec("if", f"{r}-read-or-watch",
                      when='has(self.query.watch) && self.query.watch.exists(x, x == "true")',
                      ports={"out[0]": link(check), "out[1]": link(f"{r}-list"), "error": link(ERRORS)}))
    specs.append(spec("syscall", check, opcode=f"{r}.watch",
                      ports={"out": [{"name": socket, "port": "io"}, {"name": session, "port": "io"}],
                             "error": link(ERRORS)}))
    specs.append(spec("gateway", socket, protocol="websocket", ports={"error": link(ERRORS)}))
    specs.append(spec("signal", f"{r}-watch-signal", topic=r, ports={"out": link(session)}))
    specs.append(spec("session", session, ports={"out": link(filt)}))
    specs.append(spec("if", filt, when="self[0].reach == null || self[1].namespace in self[0].reach",
                      ports={"out[0]": link(event)}))
    specs.append(spec("snippet", event, language="cel",
                      code='{"op": self[1].op, "id": self[1].id, "namespace": self[1].namespace}',
                      ports={"out": [{"name": socket, "port": "in"}]}))
    i = api_routes.index(("GET", f"/v1/{r}", f"{r}-list"))
    api_routes[i] = ("GET", f"/v1/{r}", f"{r}-read-or-watch")

for r in RESOURCES:
    watch(r)

# Metrics (issue #6): GET /metrics, the host's counters in Prometheus' text format, within the token's reach.
def metrics():
    specs.append(spec("syscall", "metrics-read", opcode="metrics.read",
                      ports={"out": link("metrics-text"), "error": link(ERRORS)}))
    cel("metrics-text", '{"status": 200, "header": {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}, '
                        '"body": self}')
    route(api_routes, "GET", "/metrics", "metrics-read")

metrics()

syscall("namespaces-read", "namespaces.read", "ok")
cel("namespaces-list", QUERY, "namespaces-read")
route(api_routes, "GET", "/v1/namespaces", "namespaces-list")
syscall("kinds-read", "kinds.read", "ok")
cel("kinds-list", QUERY, "kinds-read")
route(api_routes, "GET", "/v1/kinds", "kinds-list")

# Jobs: run input through a node of a namespace, read, cancel, stream events (SSE or NDJSON by Accept).
def job(name, action, to=None):
    ports = {"error": link(ERRORS)}
    if to:
        ports["out"] = link(to)
    specs.append(spec("job", name, action=action, ports=ports))

job("jobs-create", "create", "created")
job("jobs-read", "read", "ok")
job("jobs-read-one", "read", "found")
job("jobs-cancel", "cancel", "ok")
job("jobs-events", "events")  # out unconnected: the events themselves are the (streamed) reply
js("jobs-post", ('export default function (args) {\n'
                 '  const b = args.body;\n'
                 '  if (b === null || b === undefined || typeof b !== "object" || Array.isArray(b)) {\n'
                 '    return "a JSON object {node, port, input} is expected";\n'
                 '  }\n'
                 '  return Object.assign({}, b, { namespace: args.params.ns });\n'
                 '}\n'), "jobs-create")
cel("jobs-list", '{}', "jobs-read")
js("jobs-get-id", WITH_ID, "jobs-read-one")
js("jobs-delete-id", WITH_ID, "jobs-cancel")
js("jobs-events-id", WITH_ID, "jobs-events")
route(api_routes, "POST", "/v1/namespaces/:ns/jobs", "jobs-post")
route(api_routes, "GET", "/v1/jobs", "jobs-list")
route(api_routes, "GET", "/v1/jobs/:id", "jobs-get-id")
route(api_routes, "GET", "/v1/jobs/:id/events", "jobs-events-id")
route(api_routes, "DELETE", "/v1/jobs/:id", "jobs-delete-id")

# NodeTool's interfaces to jobs (own block, to keep merges apart from the CRUD/watch/metrics edits):
# POST /api/workflows/{id}/run with {"params": {NODE: VALUE}} (?stream=true: NDJSON events), and the
# WebSocket command protocol at /ws. Both pass the token check like every API route.
job("workflows-run", "run")  # out unconnected: the outputs, or the streamed events, are the reply
js("workflows-run-post", ('export default function (args) {\n'
                          '  const b = args.body;\n'
                          '  if (b !== null && b !== undefined && (typeof b !== "object" || Array.isArray(b))) {\n'
                          '    return "a JSON object {params: {NODE: VALUE}} is expected";\n'
                          '  }\n'
                          '  const q = args.query || {};\n'
                          '  return { namespace: args.params.id, params: (b && b.params) || {}, stream: q.stream || null };\n'
                          '}\n'), "workflows-run")
route(api_routes, "POST", "/api/workflows/:id/run", "workflows-run-post")
job("jobs-ws", "websocket")  # answers 101 and serves the connection itself
route(api_routes, "GET", "/ws", "jobs-ws")

# The token check, then the API router.
syscall("auth", "auth.check", "api")
api_ports = {}
api_specs_routes = []
for i, (method, path, target) in enumerate(api_routes):
    api_specs_routes.append({"method": method, "path": path, "port": f"out[{i}]"})
    api_ports[f"out[{i}]"] = link(target)
specs.append(spec("router", "api", routes=api_specs_routes, ports=api_ports))

# Public routes: health and the OpenAPI document; everything else goes through `auth`.
specs.append(spec("snippet", "healthz", language="json", code='{"status": 200, "body": {"status": "ok"}}'))

def op(summary, status, body=None, params=None, query=False):
    o = {"summary": summary, "responses": {
        str(status): {"description": "success"},
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "403": {"$ref": "#/components/responses/Error"},
    }}
    if status != 204:
        o["responses"][str(status)]["content"] = {"application/json": {"schema": {}}}
    ps = []
    if params:
        ps.append({"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}})
        o["responses"]["404"] = {"$ref": "#/components/responses/Error"}
    if query:
        for q in ["namespace", "name"]:
            ps.append({"name": q, "in": "query", "required": False, "schema": {"type": "string"}})
    if ps:
        o["parameters"] = ps
    if body:
        o["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return o

paths = {}
one_or_many = {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}
for r in RESOURCES:
    create = op(f"Create one or more {r} (all or nothing)", 201, body=one_or_many)
    create["responses"]["409"] = {"$ref": "#/components/responses/Error"}
    patch = op(f"Update {r} by RFC 7396 merge patches naming their target by id or name", 200, body=one_or_many)
    patch["responses"]["404"] = {"$ref": "#/components/responses/Error"}
    patch["responses"]["409"] = {"$ref": "#/components/responses/Error"}
    patch_id = op(f"Update one of the {r} by an RFC 7396 merge patch", 200, body={"type": "object"}, params=True)
    patch_id["responses"]["409"] = {"$ref": "#/components/responses/Error"}
    paths[f"/v1/{r}"] = {
        "post": create,
        "get": op(f"List {r} (filters: namespace, name)", 200, query=True),
        "patch": patch,
        "delete": op(f"Delete the {r} matching the filters (at least one)", 204, query=True),
    }
    paths[f"/v1/{r}/{{id}}"] = {
        "get": op(f"Read one of the {r}", 200, params=True),
        "patch": patch_id,
        "delete": op(f"Delete one of the {r}", 204, params=True),
    }
# Watch streams: the list's ?watch=true (see watch() above).
for r in RESOURCES:
    get = paths[f"/v1/{r}"]["get"]
    get["summary"] += "; with ?watch=true (and Upgrade: websocket) a WebSocket of change events {op, id, namespace}"
    get["parameters"].append({"name": "watch", "in": "query", "required": False, "schema": {"type": "boolean"}})
    get["responses"]["101"] = {"description": "switched to a WebSocket of change events"}

paths["/metrics"] = {"get": {"summary": "Counters in Prometheus text format: weir_specs, weir_jobs, "
                                        "weir_http_requests_total", "responses": {
    "200": {"description": "Prometheus text 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}},
    "401": {"$ref": "#/components/responses/Error"}}}}
paths["/v1/namespaces"] = {"get": op("Namespaces with each spec's status", 200)}
job_post = op("Run a job: input through a node's in port; answers {id} at once", 201,
              body={"type": "object", "required": ["node"],
                    "properties": {"node": {"type": "string"}, "port": {"type": "string"}, "input": {}}})
job_post["parameters"] = [{"name": "ns", "in": "path", "required": True, "schema": {"type": "string"}}]
paths["/v1/namespaces/{ns}/jobs"] = {"post": job_post}
paths["/v1/jobs"] = {"get": op("Jobs within reach, each with its status", 200)}
paths["/v1/jobs/{id}"] = {"get": op("One job, with its status", 200, params=True),
                          "delete": op("Cancel a job", 200, params=True)}
events = op("The job's events after ?after=SEQ, as SSE (Accept: text/event-stream) or NDJSON, ending "
            "after the job's last", 200, params=True)
events["parameters"].append({"name": "after", "in": "query", "required": False, "schema": {"type": "integer"}})
paths["/v1/jobs/{id}/events"] = {"get": events}
wf_run = op("NodeTool: run the namespace {id} as a job with {params: {NODE: VALUE}}; its outputs by node, "
            "or with ?stream=true its events as NDJSON", 200,
            body={"type": "object", "properties": {"params": {"type": "object"}}})
wf_run["parameters"] = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "stream", "in": "query", "required": False, "schema": {"type": "boolean"}}]
paths["/api/workflows/{id}/run"] = {"post": wf_run}
paths["/ws"] = {"get": {"summary": "NodeTool's WebSocket job protocol ({command, data}; JSON text or MessagePack "
                        "binary frames): run_job, reconnect_job, cancel_job, get_status, stream_input, "
                        "end_input_stream, set_mode", "responses": {"101": {"description": "switching protocols"}}}}
kinds = op("Built-in kinds and the namespace's charts: JSON Schema, ports, docs", 200)
kinds["parameters"] = [{"name": "namespace", "in": "query", "required": False, "schema": {"type": "string"}}]
paths["/v1/kinds"] = {"get": kinds}
paths["/healthz"] = {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "up"}}}}
paths["/v1/openapi.json"] = {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3"}}}}
openapi = {
    "openapi": "3.0.3",
    "info": {"title": "weir system API", "version": "1",
             "description": "The management API of weir, served by the `system` namespace's workflow."},
    "paths": paths,
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {"Error": {"description": "an error naming the namespace, resource and field",
                                "content": {"application/json": {"schema": {
                                    "type": "object", "required": ["error"],
                                    "properties": {"error": {"type": "string"}}}}}}},
    },
}
specs.append(spec("snippet", "openapi", language="json", code=json.dumps(openapi, indent=1)))

public = [("GET", "/healthz", "healthz"), ("GET", "/v1/openapi.json", "openapi")]
for m in ["GET", "POST", "PUT", "PATCH", "DELETE"]:
    public.append((m, "/*", "auth"))
pub_routes, pub_ports = [], {}
for i, (method, path, target) in enumerate(public):
    pub_routes.append({"method": method, "path": path, "port": f"out[{i}]"})
    pub_ports.setdefault(f"out[{i}]", link(target))
specs.append(spec("router", "router", routes=pub_routes, ports=pub_ports))

listener = spec("listener", "listener", protocol="http",
                host="{{ .SYSTEM_HOST }}", port="{{ .SYSTEM_PORT }}")
listener["env"] = {"SYSTEM_HOST": {"data": "{{ .WEIR_SYSTEM_HOST }}"},
                   "SYSTEM_PORT": {"data": "{{ .WEIR_SYSTEM_PORT }}"}}
listener["ports"] = {"out": link("router")}
specs.insert(0, listener)

for s in specs:
    s["namespace"] = "system"

import yaml  # noqa: E402  (PyYAML)
with open("system/system.yaml", "w") as f:
    f.write("# The `system` namespace: weir's management API as a workflow (DESIGN.md, Interfaces).\n"
            "# Generated by system/scripts/gen_system_yaml.py; seeded by `weir start` into a store\n"
            "# without a `system` namespace, then editable live like any namespace.\n")
    yaml.safe_dump(specs, f, sort_keys=False, width=110, allow_unicode=True)
