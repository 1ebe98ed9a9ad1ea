"""A tiny resource for testing the provider framework (`keyplane.resources.base`) through the
real plugin protocol before, and independently of, the key engine: a Note is a JSON file under
the directory named by `keyplane:state`, one sub-directory per region."""
from __future__ import annotations

import json
from pathlib import Path

from botocore.exceptions import ClientError

from keyplane.resources import base

HERE = Path(__file__).resolve().parent


class Files:
    """What `Api` is to the real resources: where this call's notes live."""

    def __init__(self, root: Path, region: str):
        self.region = region
        self.dir = root / region
        self.undo = []

    def on_failure(self, step):
        self.undo.append(step)

    def rollback(self):
        while self.undo:
            self.undo.pop()()

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.json"


class NoteProvider(base.Provider):
    resource = "note"
    replace_on = frozenset({"name", "region"})
    delete_before_replace = True
    documents = {"policy": HERE / "note-policy.schema.json"}

    @classmethod
    def schema(cls):
        return HERE / "note.schema.json"

    def api(self, props):
        return Files(Path(self.settings.state), props.get("region") or self.settings.region)

    def _create(self, api, inputs):
        path = api.path(inputs["name"])
        if path.exists():
            raise ClientError({"Error": {"Code": "AlreadyExistsException",
                                         "Message": f"Note {inputs['name']} already exists"}}, "CreateNote")
        api.dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"text": inputs.get("text", ""), "tags": inputs.get("tags", {})}))
        api.on_failure(path.unlink)
        if inputs.get("fail_with"):
            raise ClientError({"Error": {"Code": "LimitExceededException",
                                         "Message": inputs["fail_with"]}}, "TagNote")
        return inputs["name"]

    def _read(self, api, id_, inputs):
        path = api.path(id_)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return {"name": id_, "text": data["text"], "tags": data["tags"],
                "length": len(data["text"]), "token": f"secret-{id_}"}

    def _update(self, api, id_, olds, news, changed):
        path = api.path(id_)
        path.write_text(json.dumps({"text": news.get("text", ""), "tags": news.get("tags", {})}))

    def _delete(self, api, id_, inputs):
        path = api.path(id_)
        if not path.exists():
            raise ClientError({"Error": {"Code": "NotFoundException", "Message": "gone"}}, "DeleteNote")
        path.unlink()


class Note(base.Resource, module="test", name="Note"):
    _provider_class = NoteProvider
    _computed = ("length", "token")
    _secret = ("token",)
