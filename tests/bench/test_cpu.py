"""CPU accounting counts a server's ended workers and only the chosen database's backends."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection

from bench.cpu import PG_BACKGROUND, BackendSampler, Meter, backend_database, session_cpu

# A session leader that forks three workers in turn, each burning 0.3 s of CPU, and reaps
# each before the next, as gunicorn and django-q2 do when they recycle a worker.
RECYCLING_SERVER = """
import os, sys, time
print("ready", flush=True)
sys.stdin.readline()
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        while time.process_time() < 0.3:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
print("done", flush=True)
sys.stdin.readline()
"""


def test_a_session_counts_the_cpu_of_workers_that_ended_and_were_reaped():
    server = subprocess.Popen(
        [sys.executable, "-c", RECYCLING_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        assert server.stdout.readline() == "ready\n"
        meter = Meter({"server": server.pid}).start()
        server.stdin.write("go\n")
        server.stdin.flush()
        assert server.stdout.readline() == "done\n"
        usage = meter.stop()
    finally:
        server.kill()
        server.wait()

    assert 0.85 <= usage.seconds["server"] < 2.0
    assert usage.wall >= 0.85


def test_a_session_that_is_not_running_used_nothing():
    assert session_cpu({"nobody": 2**22 + 17}) == {"nobody": 0.0}


@pytest.mark.parametrize(
    ("title", "database"),
    [
        ("postgres: 15/main: postgres leadline_bench 127.0.0.1(51234) idle", "leadline_bench"),
        ("postgres: 15/main: app shop [local] SELECT", "shop"),
        ("postgres: 15/main: autovacuum worker leadline_bench", "leadline_bench"),
        ("postgres: 15/main: walwriter", ""),
        ("postgres: 15/main: logical replication launcher", ""),
        ("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", None),
        ("python manage.py qcluster", None),
    ],
)
def test_it_reads_the_database_from_a_backend_title(title, database):
    assert backend_database(title) == database


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_sampler_counts_this_databases_backend_and_not_others():
    connection.ensure_connection()
    sampler = BackendSampler({connection.settings_dict["NAME"]: "ours"}, interval=0.05)
    sampler.start()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM generate_series(1, 4000000)")
        used, ended = sampler.used()
    finally:
        sampler.stop()

    assert used["ours"] >= 0.1  # four million rows take a backend well over 100 ms
    assert set(used) <= {"ours", PG_BACKGROUND}
    assert ended == 0
