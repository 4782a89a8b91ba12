"""Mail folders: list (paged), get, create, and child folders.

As the v1.0 reference documents:

* ``GET /users/{id}/mailFolders`` lists the folders directly under the root (``msgfolderroot``), "by default
  … 10 folders" a page with ``@odata.nextLink``, ``$top`` for more; hidden folders only with
  ``includeHiddenFolders=true`` (learn.microsoft.com/graph/api/user-list-mailfolders);
* ``GET …/mailFolders/{id}/childFolders`` lists one level below a folder, paged the same way
  (learn.microsoft.com/graph/api/mailfolder-list-childfolders);
* ``POST /users/{id}/mailFolders`` and ``POST …/mailFolders/{id}/childFolders`` create one (``displayName``,
  ``isHidden``) and answer ``201`` with the mailFolder; a name its parent already holds is
  ``400 ErrorFolderExists`` (learn.microsoft.com/graph/api/user-post-mailfolders,
  learn.microsoft.com/graph/api/mailfolder-post-childfolders);
* a well-known name (``inbox``, ``archive``, ``junkemail`` …) stands for the folder's id in any path
  (learn.microsoft.com/graph/api/resources/mailfolder).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from .mail import json_body
from .odata import parse_int
from .render import folder_json
from .router import Call, RouteSpec, route
from .state import ROOT_FOLDER, Folder, World
from .wire import GraphResponse, bad_request, graph_error, not_found, odata_key

DEFAULT_PAGE = 10  # "By default, … returns 10 folders" per page


class FoldersApi:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[RouteSpec]:
        base = "/{user}/mailFolders/{folder}"
        return [
            route("GET", "/{user}/mailFolders", self.list_top, "read"),
            route("POST", "/{user}/mailFolders", self.create_top, "write"),
            route("GET", base, self.get_folder, "read"),
            route("GET", base + "/childFolders", self.list_children, "read"),
            route("POST", base + "/childFolders", self.create_child, "write"),
        ]

    def _context(self, call: Call, suffix: str) -> str:
        assert call.user is not None
        return f"{call.req.root}/$metadata#users('{odata_key(call.user.id)}')/{suffix}"

    def list_top(self, call: Call) -> GraphResponse:
        assert call.user is not None
        root = self.world.folder(call.user.id, ROOT_FOLDER)
        assert root is not None
        return self._page(call, root, "mailFolders")

    def list_children(self, call: Call) -> GraphResponse:
        assert call.user is not None
        parent = self.world.folder(call.user.id, call.params["folder"])
        if parent is None:
            return not_found()
        return self._page(call, parent, f"mailFolders('{odata_key(parent.id)}')/childFolders")

    def _page(self, call: Call, parent: Folder, context: str) -> GraphResponse:
        req = call.req
        hidden = req.query.get("includeHiddenFolders", "").lower() == "true"
        folders = sorted((f for f in self.world.child_folders(parent.id) if hidden or not f.is_hidden),
                         key=lambda f: (f.display_name.lower(), f.id))
        top = parse_int(req.query.get("$top"), DEFAULT_PAGE, "$top", 999)
        skip = parse_int(req.query.get("$skip"), 0, "$skip", 10**9)
        wanted = _selected(req.query.get("$select"))
        body: dict[str, Any] = {"@odata.context": self._context(call, context),
                                "value": [_shape(folder_json(self.world, f), wanted) for f in folders[skip:skip + top]]}
        if skip + top < len(folders):
            query = {**{k: v for k, v in req.query.items() if k != "$skip"}, "$skip": str(skip + top)}
            body["@odata.nextLink"] = f"{req.root}{req.path}?{urlencode(query)}"
        return GraphResponse(200, body)

    def get_folder(self, call: Call) -> GraphResponse:
        assert call.user is not None
        folder = self.world.folder(call.user.id, call.params["folder"])
        if folder is None:
            return not_found()
        shaped = _shape(folder_json(self.world, folder), _selected(call.req.query.get("$select")))
        return GraphResponse(200, {"@odata.context": self._context(call, "mailFolders/$entity"), **shaped})

    def create_top(self, call: Call) -> GraphResponse:
        assert call.user is not None
        root = self.world.folder(call.user.id, ROOT_FOLDER)
        assert root is not None
        return self._create(call, root)

    def create_child(self, call: Call) -> GraphResponse:
        assert call.user is not None
        parent = self.world.folder(call.user.id, call.params["folder"])
        if parent is None:
            return not_found()
        return self._create(call, parent)

    def _create(self, call: Call, parent: Folder) -> GraphResponse:
        assert call.user is not None
        data = json_body(call.req)
        name = str(data.get("displayName") or "").strip()
        if not name:
            return bad_request("The folder display name can't be empty.", "ErrorInvalidRequest")
        folder = self.world.add_folder(call.user.id, parent.id, name, bool(data.get("isHidden")))
        if folder is None:
            return graph_error(400, "ErrorFolderExists", "A folder with the specified name already exists.")
        return GraphResponse(201, {"@odata.context": self._context(call, "mailFolders/$entity"),
                                   **folder_json(self.world, folder)})


def _selected(value: str | None) -> set[str] | None:
    return {v.strip().lower() for v in value.split(",") if v.strip()} | {"id"} if value else None


def _shape(data: dict[str, Any], wanted: set[str] | None) -> dict[str, Any]:
    return data if wanted is None else {k: v for k, v in data.items() if k.lower() in wanted}
