"""The FastAPI application: routes only; uploads, jobs and auth do the work.

Every error is JSON (``{"detail": "..."}``) with a 4xx status for what the client can fix and 500
for a bug (its traceback goes to mien's bug log, never into the answer). The OpenAPI schema is at
``/openapi.json``, its page at ``/docs``.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from mien.pipeline import Models
from mien.server import playback, uploads
from mien.server.auth import binding_problem, token_guard
from mien.server.jobs import JobOptions, Jobs
from mien.server.live import MAX_CONNECTIONS, MAX_FPS, serve_live
from mien.server.storage import MAX_DATA, Room, UploadRoom
from mien.version import __version__

MAX_UPLOAD = 2 << 30  # bytes (2 GiB): a long session video; --max-upload-mb changes it
MAX_WAITING = 64  # queued or running jobs before new ones are refused with 429
UPLOAD_TTL = 24 * 3600.0  # seconds an upload no job uses is kept: a day to create its job
STATIC = Path(__file__).with_name("static")  # the web page (index.html, app.js, style.css)


# The upload endpoints read their body as a stream, so FastAPI cannot infer it: described here,
# /docs offers a file picker for it.
MEDIA_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}  # fmt: skip


class AnalysisOptions(BaseModel):
    """The analysis options a client may set (model files are the server's business)."""

    model_config = ConfigDict(extra="forbid")
    max_faces: int = Field(20, ge=1, le=100)
    max_frames: int | None = Field(None, ge=1)
    smooth: bool | None = None
    mesh: bool = False
    blendshapes: bool = False


class ImageQuery(AnalysisOptions):
    """POST /analyze's query: the job options, and the token for clients that cannot set headers."""

    token: str | None = Field(None, description="the service's token, where no Authorization header can be sent")


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    upload: str = Field(description="an id from POST /uploads")
    options: AnalysisOptions = AnalysisOptions()


class QueryRequest(BaseModel):
    sql: str = Field(description="one SELECT over the views frames, events and inputs (see mien query)")


def create_app(data: Path, token: str | None = None, *, concurrent_jobs: int = 1,
               max_upload: int = MAX_UPLOAD, max_waiting: int = MAX_WAITING,
               finish_jobs_on_stop: bool = False, live_fps: int = MAX_FPS,
               max_live: int = MAX_CONNECTIONS, max_data: int | None = MAX_DATA,
               upload_ttl_s: float = UPLOAD_TTL) -> FastAPI:  # fmt: skip
    """The service over the data folder ``data`` (created if need be).

    ``max_upload``: bytes one upload may have (413 above). ``max_data``: bytes the data folder
    may hold before uploads are refused with 507 (None or 0: no cap; the disk keeps
    storage.MIN_FREE free regardless). ``upload_ttl_s``: uploads no job uses are removed this
    many seconds after they came (swept at start and whenever an upload arrives).
    ``concurrent_jobs``: jobs analysed at once; ``max_waiting``: jobs queued or running before
    new ones are refused with 429.

    ``live_fps``: frames a second each /live connection may have analysed; more are answered
    with a 429 error message and not analysed. ``max_live``: live connections open at once; one
    more is answered with a 429 error message and closed (1013, try again later).

    On stop, jobs in progress are left to the next start (which resumes them, as after a crash)
    unless ``finish_jobs_on_stop``: then the stop waits until every queued job is done."""
    data = Path(data).resolve()
    data.mkdir(parents=True, exist_ok=True)
    state: dict = {}
    models_lock = threading.Lock()
    open_streams = [0]  # live connections now open
    reservations = UploadRoom(data, max_data)  # room held for the uploads arriving now

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        uploads.remove_unfinished(data / "tmp")
        state["jobs"] = Jobs(data, concurrent_jobs)  # resumes what a dead service left unfinished
        state["jobs"].sweep_uploads(upload_ttl_s)
        try:
            yield
        finally:
            state["jobs"].close(wait=finish_jobs_on_stop)
            state.pop("models", None)

    app = FastAPI(title="mien", version=__version__, lifespan=lifespan,
                  description="Facial behaviour from images and video: uploads, jobs, results, SQL.")  # fmt: skip
    guarded = [Depends(token_guard(token))]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        """422 with one line a person can read in ``detail``, and FastAPI's list in ``errors``."""
        errors = jsonable_encoder(error.errors())
        return JSONResponse({"detail": "; ".join(_validation_line(e) for e in errors), "errors": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception) -> JSONResponse:
        from mien.bug_log import log_bug

        return JSONResponse({"detail": log_bug(error, data / "logs")}, status_code=500)

    def jobs() -> Jobs:
        return state["jobs"]

    def job_or_404(job_id: str) -> dict:
        job = jobs().get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job

    def finished_analysis(job_id: str) -> dict:
        job = job_or_404(job_id)
        if job["status"] != "done":
            raise HTTPException(409, f"job {job_id} is {job['status']}" + (f": {job['error']}" if job["error"] else ""))
        analysis = jobs().analysis(job_id)
        if analysis is None or not (jobs().results / analysis["frames_file"]).is_file():
            raise HTTPException(410, f"the results of job {job_id} are no longer on disk")
        return analysis

    # The page: static files inside the package, no build step. They hold no data, so no token;
    # the page sends the one in its own URL (/?token=T) with every call.
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    @app.post("/uploads", status_code=201, dependencies=guarded, openapi_extra=MEDIA_BODY)
    async def upload(request: Request) -> dict:
        """The body is the file (raw, or a multipart 'file' field). 413 over the size limit, 507
        when the data folder has no room for it, 415 when it is not an image or video mien can
        decode (nothing is kept)."""
        async with upload_room(request) as room:
            part, name = await uploads.receive(request, data / "tmp", max_upload, room)
            found = await run_in_threadpool(uploads.store, data, part, name)
        return found.public()

    @app.post("/jobs", status_code=201, dependencies=guarded)
    def create_job(request: JobRequest) -> dict:
        found = uploads.find(data, request.upload)
        if found is None:
            raise HTTPException(404, f"no upload {request.upload}")
        if sum(j["status"] in ("queued", "running") for j in jobs().list()) >= max_waiting:
            raise HTTPException(429, f"{max_waiting} jobs are already waiting or running; try again later")
        job = jobs().create(found, JobOptions(**request.options.model_dump()))
        if job is None:
            raise HTTPException(404, f"no upload {request.upload} (deleted meanwhile)")
        return job

    @app.get("/jobs", dependencies=guarded)
    def list_jobs() -> list[dict]:
        """Every job, with ``name``: its upload's client file name (a label, never a path)."""
        names = uploads.names(data)
        return [{**job, "name": names.get(job["upload"])} for job in jobs().list()]

    @app.get("/jobs/{job_id}", dependencies=guarded)
    def job_status(job_id: str) -> dict:
        job = job_or_404(job_id)
        upload = uploads.find(data, job["upload"])
        return {**job, "name": upload.name if upload else None}

    @app.get("/jobs/{job_id}/results", dependencies=guarded)
    def results(job_id: str, format: Literal["json", "csv", "parquet"] = "json") -> Response:
        """Every row (one per face per frame), as `mien batch` wrote it."""
        path = jobs().results / finished_analysis(job_id)["frames_file"]
        if format == "parquet":
            return FileResponse(path, media_type="application/vnd.apache.parquet", filename=f"{job_id}.parquet")
        return _table(pd.read_parquet(path), format, job_id)

    @app.get("/jobs/{job_id}/events", dependencies=guarded)
    def events(job_id: str, format: Literal["json", "csv", "parquet"] = "json") -> Response:
        """Behaviour events (blinks, expression episodes...; docs/events.md)."""
        path = jobs().results / finished_analysis(job_id)["events_file"]
        if format == "parquet":
            return FileResponse(path, media_type="application/vnd.apache.parquet", filename=f"{job_id}-events.parquet")
        return _table(pd.read_parquet(path), format, f"{job_id}-events")

    @app.get("/jobs/{job_id}/summary", dependencies=guarded)
    def summary(job_id: str, per: Literal["person", "input"] = "person",
                format: Literal["json", "csv"] = "json") -> Response:  # fmt: skip
        """One row per person (face_id) or for the whole input: time visible, mean, peak and rate
        of every AU and expression, blink rate, head movement... (mien.summary)."""
        import pyarrow.parquet as pq

        from mien.result import Result

        analysis = finished_analysis(job_id)
        found = Result(pq.read_table(jobs().results / analysis["frames_file"]), None,
                       pd.read_parquet(jobs().results / analysis["events_file"]))  # fmt: skip
        return _table(found.summary(per=per), format, job_id)

    @app.get("/jobs/{job_id}/media", dependencies=guarded)
    def media(job_id: str) -> FileResponse:
        """The job's uploaded video or image as a browser plays it; Range requests are answered
        (206), so the page's <video> can seek."""
        found = uploads.find(data, job_or_404(job_id)["upload"])
        path = (data / found.file).resolve() if found else None
        if path is None or not path.is_relative_to(data) or not path.is_file():
            raise HTTPException(410, f"the media of job {job_id} is no longer on disk")
        return FileResponse(path, media_type=playback.media_type(path))

    @app.get("/jobs/{job_id}/frames", dependencies=guarded)
    def frame_columns(job_id: str, start: float | None = None, end: float | None = None,
                      landmarks: bool = False) -> dict:  # fmt: skip
        """The rows between ``start`` and ``end`` seconds as compact columns for the page's results
        view: timestamp, frame, face_id, emotion, box, series (valence, arousal, pspi, expressions,
        AUs, head and gaze angles), and with ``landmarks=true`` the 68 landmarks (docs/server.md)."""
        path = jobs().results / finished_analysis(job_id)["frames_file"]
        return playback.frame_columns(path, start, end, landmarks)

    @app.delete("/jobs/{job_id}", status_code=204, dependencies=guarded)
    def delete_job(job_id: str) -> Response:
        """The job, its input and the result files no other job shares."""
        outcome = jobs().delete(job_id)
        if outcome == "missing":
            raise HTTPException(404, f"no job {job_id}")
        if outcome == "busy":
            raise HTTPException(409, f"job {job_id} is still queued or running; delete it when it has finished")
        return Response(status_code=204)

    @app.get("/uploads", dependencies=guarded)
    def list_uploads() -> list[dict]:
        """Every upload kept, with ``jobs``: the ids of the jobs on it (uploads no job uses are
        removed after a while; see docs/server.md)."""
        return jobs().uploads()

    @app.delete("/uploads/{upload_id}", status_code=204, dependencies=guarded)
    def delete_upload(upload_id: str) -> Response:
        """An upload no job uses, and its file. An upload goes with its last job's DELETE anyway."""
        outcome, users = jobs().delete_upload(upload_id)
        if outcome == "missing":
            raise HTTPException(404, f"no upload {upload_id}")
        if outcome == "busy":
            raise HTTPException(409, f"upload {upload_id} is used by job(s) {', '.join(users)}; delete those jobs instead")
        return Response(status_code=204)

    @asynccontextmanager
    async def upload_room(request: Request) -> AsyncIterator[Room]:
        """The room this upload has, held for it until it is stored or refused, so that uploads
        arriving together cannot pass the cap together (storage.UploadRoom)."""
        await run_in_threadpool(jobs().sweep_uploads, upload_ttl_s)  # space first: abandoned uploads go
        room, ticket = await run_in_threadpool(reservations.reserve, uploads.declared_size(request), max_upload)
        try:
            yield room
        finally:
            reservations.release(ticket)

    @app.post("/analyze", dependencies=guarded, openapi_extra=MEDIA_BODY)
    async def analyze_image(request: Request, query: Annotated[ImageQuery, Query()]) -> Response:
        """One image, analysed now with the options of a job (as query parameters, e.g.
        ``?max_faces=1&mesh=true``): its rows as JSON (one per face). Videos go through /jobs."""
        options = AnalysisOptions(**query.model_dump(exclude={"token"}))
        async with upload_room(request) as room:  # held while the image is on disk
            part, _ = await uploads.receive(request, data / "tmp", max_upload, room)
            try:
                kind, extension, _ = await run_in_threadpool(uploads.probe, part)
                if kind != "image":
                    raise HTTPException(415, "POST /analyze takes one image; upload videos and create a job")
                image = part.with_name(part.stem.lstrip(".") + extension)
                os.replace(part, image)
                part = image
                models = shared_models().with_options(**options.model_dump())
                rows = await run_in_threadpool(lambda: _analyse_image(models, str(image)))
            finally:
                part.unlink(missing_ok=True)
        return Response(rows.to_json(orient="records"), media_type="application/json")

    def shared_models():
        """The service's one model set, loaded on first use, shared by /analyze and every /live session."""
        with models_lock:
            if state.get("models") is None:
                state["models"] = Models()
            return state["models"]

    @app.websocket("/live")
    async def live(websocket: WebSocket) -> None:
        """Live analysis: JPEG frames in, one JSON answer per frame (docs/server.md)."""
        await serve_live(websocket, shared_models, token, live_fps, open_streams, max_live)

    @app.post("/query", dependencies=guarded)
    def query(request: QueryRequest) -> Response:
        """Read-only SQL (DuckDB) over every finished job, as `mien query` runs it: views frames,
        events, inputs. Statements that write, attach or read files are refused (400)."""
        from mien.batch.query import query as run_query

        try:
            answer = run_query(jobs().results, request.sql)
        except ValueError as error:  # NotReadOnly included
            raise HTTPException(400, str(error)) from None
        return Response(answer.to_json(orient="records", date_format="iso"), media_type="application/json")

    return app


def _validation_line(error: dict) -> str:
    """One of FastAPI's validation errors as ``where name: what`` (e.g. ``query max_faces: Input
    should be greater than or equal to 1 (got '0')``)."""
    where = [str(part) for part in error.get("loc", ())]
    place = f"{where[0]} {'.'.join(where[1:])}".strip() if where else "request"
    given = f" (got {error['input']!r})" if "input" in error and isinstance(error["input"], (str, int, float)) else ""
    return f"{place}: {error.get('msg', 'invalid')}{given}"


def _table(frame: pd.DataFrame, format: str, name: str) -> Response:
    if "input" in frame:  # the server's path of the input: the job id names it for the client
        frame = frame.assign(input=name.removesuffix("-events"))
    if format == "csv":
        return Response(frame.to_csv(index=False), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})  # fmt: skip
    buffer = io.StringIO()
    frame.to_json(buffer, orient="records")
    return Response(buffer.getvalue(), media_type="application/json")


def _analyse_image(models: Models, path: str) -> pd.DataFrame:
    """One image on the service's shared model set, in a session of its own."""
    import pyarrow as pa

    batches: list = []
    with models.session() as session:
        report = session.run([path], on_batch=batches.append)
    if report.failed:
        raise HTTPException(422, f"the image could not be analysed: {report.failed[0].error}")
    return pa.Table.from_batches(batches, schema=models.output_schema()).to_pandas().drop(columns="input")


def serve(host: str, port: int, data: Path, token: str | None, **limits) -> None:
    """Run the service with uvicorn until stopped; refuses a non-loopback host without a token.
    ``limits``: create_app's keyword arguments (concurrent_jobs, max_upload, max_data...)."""
    problem = binding_problem(host, token)
    if problem:
        raise ValueError(problem)
    import uvicorn

    uvicorn.run(create_app(data, token, **limits), host=host, port=port, log_level="info")
