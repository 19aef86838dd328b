"""`mien serve`: an HTTP service over mien, a client of mien.batch (not a second job system).

Everything the service keeps lies under one data folder (``--data``)::

    server.sqlite     uploads and jobs (ids, options, state), the service's own small table
    uploads/          uploaded media, named by a server-made id (never by the client's file name)
    inputs/           one hard link per job to its upload: the path the batch catalog knows
    results/          a `mien batch` results folder: catalog.sqlite, frames/, events/
    tmp/              in-flight uploads and single-image analyses, removed when done

Modules: app (routes), auth (binding and token), uploads (streamed, limited, checked media),
jobs (job table and the threads that run each job with mien.batch.run.run_batch).
"""
