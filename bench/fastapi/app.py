"""The reference receiver Sekoia.io's documentation describes, for `make bench`:
a FastAPI app under uvicorn that parses the WebHook notification and schedules
a background task, as a Python integration would. No storage: it keeps nothing
across a crash, which our receiver does.

Run: uvicorn app:app --host 127.0.0.1 --port PORT --no-access-log
"""

from typing import Any, Dict, Optional

from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel

app = FastAPI()


class Attributes(BaseModel):
    uuid: str
    short_id: Optional[str] = None


class Notification(BaseModel):
    type: str
    action: str
    attributes: Attributes
    metadata: Dict[str, Any] = {}


received = 0


def handle(event: Notification) -> None:
    # Where a real integration would call the Alert API.
    global received
    received += 1


@app.get("/")
async def health() -> Dict[str, str]:
    return {"status": "ok"}


@app.post("/hooks/{secret}", status_code=202)
async def hook(secret: str, event: Notification, tasks: BackgroundTasks) -> Dict[str, str]:
    tasks.add_task(handle, event)
    return {"status": "accepted"}
