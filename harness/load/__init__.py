"""Peak-season load testing: national peaks as data, replayed by locust, graded by SLOs.

Entry points: `harness.load.engine.run_load` (run and grade), `harness.load.report.
write_load_report` (load.json, timeline.csv, load.html), `harness.load.profiles.
load_profile`. The parent side never imports locust: locust runs in child processes
(`python -m harness.load.worker`) because gevent's monkey-patching would break asyncio and
pytest in the same process. This file imports nothing, so that the child can patch the
standard library before anything else is loaded.
"""
