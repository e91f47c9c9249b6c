"""A local stand-in for the workspace endpoints `databricks bundle validate` calls.

The Databricks CLI's own acceptance tests run the CLI against a local test server
(libs/testserver in github.com/databricks/cli); this one answers just what validate asks:
the host's metadata, who the caller is (SCIM `Me`), whether workspace paths exist (validate
creates the bundle's file folder), and the CLI's telemetry.
Anything else gets a JSON 404 and is recorded in `unexpected`, so a new call made by a newer
CLI shows up instead of passing unnoticed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Caller:
    """Who the token belongs to: a user, or a service principal (its user name is its application id)."""

    user_name: str = "dev.eloper@example.com"
    display_name: str = "Dev Eloper"
    service_principal: bool = False

    def scim(self) -> dict:
        return {
            "id": "1000000000000001",
            "userName": self.user_name,
            "displayName": self.display_name,
            "active": True,
            "emails": [] if self.service_principal else [{"value": self.user_name, "primary": True}],
            "groups": [{"display": "users", "value": "2000000000000002"}],
        }


@dataclass
class Workspace:
    caller: Caller = field(default_factory=Caller)
    url: str = ""
    requests: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    folders: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # What any workspace has: its root, the users' folder and the caller's home folder.
        home = f"/Workspace/Users/{self.caller.user_name}"
        self.folders |= {"/", "/Workspace", "/Workspace/Users", home, home.removeprefix("/Workspace")}

    def home_folder_acl(self, object_id: str) -> dict:
        """A home folder's permissions, as a workspace sets them: its owner and the admins."""
        who = "service_principal_name" if self.caller.service_principal else "user_name"
        return {
            "object_id": f"/directories/{object_id}",
            "object_type": "directory",
            "access_control_list": [
                {
                    who: self.caller.user_name,
                    "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": False}],
                },
                {
                    "group_name": "admins",
                    "all_permissions": [
                        {
                            "permission_level": "CAN_MANAGE",
                            "inherited": True,
                            "inherited_from_object": ["/directories/"],
                        }
                    ],
                },
            ],
        }

    def answer(self, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        self.requests.append(f"{method} {path}")
        if method == "GET" and path == "/.well-known/databricks-config":
            return 200, {"oidc_endpoint": f"{self.url}/oidc", "workspace_id": "900800700600"}
        if method == "GET" and path == "/api/2.0/preview/scim/v2/Me":
            return 200, self.caller.scim()
        if method == "GET" and path == "/api/2.0/workspace/get-status":
            folder = query.get("path", [""])[0]
            if folder in self.folders:
                return 200, {"object_type": "DIRECTORY", "path": folder, "object_id": 1000 + len(folder)}
            return 404, {
                "error_code": "RESOURCE_DOES_NOT_EXIST",
                "message": f"Path ({folder}) doesn't exist.",
            }
        if method == "GET" and path.startswith("/api/2.0/permissions/directories/"):
            return 200, self.home_folder_acl(path.rpartition("/")[2])
        if method == "POST" and path == "/api/2.0/workspace/mkdirs":
            self.folders.add(body.get("path", ""))
            return 200, {}
        if method == "POST" and path == "/telemetry-ext":
            return 200, {"errors": [], "numProtoSuccess": 1}
        self.unexpected.append(f"{method} {path}")
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"stand-in does not serve {path}"}


class _Handler(BaseHTTPRequestHandler):
    workspace: Workspace

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            sent = json.loads(raw) if raw else {}
        except ValueError:
            sent = {}
        url = urlsplit(self.path)
        status, body = self.workspace.answer(self.command, url.path, parse_qs(url.query), sent)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.path.endswith("/scim/v2/Me"):
            self.send_header("X-Databricks-Org-Id", "900800700600")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _reply

    def log_message(self, *args) -> None:  # quiet: the check prints its own summary
        pass


class StandIn:
    """`with StandIn() as ws: ws.url` — a workspace on 127.0.0.1 for as long as the block runs."""

    def __init__(self, caller: Caller | None = None) -> None:
        self.workspace = Workspace(caller or Caller())
        handler = type("Handler", (_Handler,), {"workspace": self.workspace})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = self.workspace.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
