"""A throw-away PostgreSQL/PostGIS cluster for tests and benchmarks.

Cluster(tmp) runs initdb in a new directory (as the `postgres` user when
run as root: initdb refuses root), listens only on a unix socket in that
directory, logs every statement to `log` (tests read it to see what was
pushed to the server), creates the database `gis` with PostGIS and a role
`secret` that must give a password (scram-sha-256), and stop() stops the
server and removes the directory.  Use it as a context manager so the
server is stopped whatever a test does.  Nothing is mocked: these are
Debian's postgresql-15 and postgresql-15-postgis-3 (scripts/deps).
"""
import os
import pwd
import shutil
import subprocess
import tempfile
import time

BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "s3cr3t-Pa55"


class Cluster:
    def __init__(self, log_statements=True):
        self.dir = tempfile.mkdtemp(prefix="gp-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.sudo = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.sudo = ["runuser", "-u", "postgres", "--"]
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.started = False
        try:
            self._sh(BIN + "/initdb", "-D", self.data, "-U", self.user, "--auth=trust",
                     "-E", "UTF8", "--locale=C")
            with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
                f.write("local all secret scram-sha-256\nlocal all all trust\n")
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write("listen_addresses = ''\nunix_socket_directories = '%s'\n"
                        "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                        "log_statement = '%s'\nlog_line_prefix = '[%%p] '\n"
                        % (self.dir, "all" if log_statements else "none"))
            self._sh(BIN + "/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                     "start")
            self.started = True
            self.psql("CREATE DATABASE gis", db="postgres")
            self.psql("CREATE EXTENSION postgis;"
                      "CREATE ROLE secret LOGIN PASSWORD '%s';"
                      "GRANT ALL ON SCHEMA public TO secret;" % PASSWORD)
        except BaseException:
            self.stop()
            raise

    def _sh(self, *cmd):
        p = subprocess.run(self.sudo + list(cmd), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (cmd[0], p.returncode, p.stdout,
                                                        p.stderr))
        return p.stdout

    def conn(self, db="gis", user=None, extra=""):
        """A GDAL connection string (no password: tests add one)."""
        return "PG:host=%s dbname=%s user=%s%s" % (self.dir, db, user or self.user,
                                                   (" " + extra) if extra else "")

    def psql(self, sql, db="gis", user=None, check=True, env=None):
        """Run sql; the rows as a list of '|'-separated strings."""
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([BIN + "/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                            self.dir, "-U", user or self.user, "-d", db, "-c", sql],
                           capture_output=True, text=True, env=e)
        if check and p.returncode != 0:
            raise RuntimeError("psql: %s" % p.stderr)
        return [l for l in p.stdout.splitlines() if l] if p.returncode == 0 else None

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.started:
            subprocess.run(self.sudo + [BIN + "/pg_ctl", "-D", self.data, "-m", "immediate",
                                        "-w", "stop"], capture_output=True)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
