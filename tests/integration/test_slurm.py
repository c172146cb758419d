"""A real single-node Slurm cluster (Debian's slurm-wlm and munge, started
here as root in a temporary directory, stopped at the end): deploy/slurm's
job array, then the merge job with --dependency=afterok, against one
unsharded run.  Arrays from 0 and from 1, and the explicit
--shard $SLURM_ARRAY_TASK_ID/N form."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import gptest

SLURM = os.path.join(gptest.SRC, "deploy", "slurm")
START_TIMEOUT = 60   # seconds for the node to be idle
JOB_TIMEOUT = 120    # seconds for a job to end

CONF = """ClusterName=gptest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d}/munge.socket
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
# No cgroups: processes tracked by their parents, tasks not bound, nothing
# accounted (a container need not delegate cgroups).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=1
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """munged, slurmctld and slurmd as children of the test, all their
    files in one temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gp-slurm-")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.env = dict(os.environ, SLURM_CONF=os.path.join(self.dir, "slurm.conf"))

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def spawn(self, name, argv):
        log = open(self.path(name + ".out"), "w")
        self.procs.append(subprocess.Popen(argv, env=self.env, stdout=log,
                                           stderr=subprocess.STDOUT))
        log.close()

    def start(self):
        key = self.path("munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        # --force: the socket's directory is under /tmp, which munged would
        # otherwise refuse as writable by others.
        self.spawn("munged", ["munged", "-F", "--force", "--socket", self.path("munge.socket"),
                              "--key-file", key, "--pid-file", self.path("munged.pid"),
                              "--log-file", self.path("munged.log"),
                              "--seed-file", self.path("munge.seed")])
        self.wait_for(lambda: os.path.exists(self.path("munge.socket")), "munged's socket")
        host = socket.gethostname()
        os.makedirs(self.path("state"))
        os.makedirs(self.path("spool"))
        with open(self.path("slurm.conf"), "w") as f:
            f.write(CONF.format(host=host, d=self.dir, ctld_port=free_port(), d_port=free_port(),
                                cpus=os.cpu_count() or 1))
        self.spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", self.path("slurm.conf")])
        self.spawn("slurmd", ["slurmd", "-D", "-f", self.path("slurm.conf"), "-N", host])
        self.wait_for(lambda: self.cmd("sinfo", "-h", "-o", "%t", check=False).strip() == "idle",
                      "the node to be idle")

    def wait_for(self, ready, what, timeout=START_TIMEOUT):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for p in self.procs:
                if p.poll() is not None:
                    raise AssertionError("%s exited %d while waiting for %s:\n%s"
                                         % (p.args[0], p.returncode, what, self.logs()))
            if ready():
                return
            time.sleep(0.1)
        raise AssertionError("no %s after %d s:\n%s" % (what, timeout, self.logs()))

    def cmd(self, *argv, cwd=None, check=True):
        p = subprocess.run(argv, env=self.env, cwd=cwd, capture_output=True, text=True,
                           timeout=60)
        if check and p.returncode != 0:
            raise AssertionError("%s exited %d: %s" % (" ".join(argv), p.returncode, p.stderr))
        return p.stdout

    def logs(self):
        out = []
        for name in ("munged.out", "slurmctld.out", "slurmd.out", "slurmctld.log", "slurmd.log"):
            if os.path.exists(self.path(name)):
                with open(self.path(name), errors="replace") as f:
                    out.append("--- %s\n%s" % (name, f.read()[-3000:]))
        return "\n".join(out)

    def stop(self):
        if any(p.poll() is None for p in self.procs[1:]):
            self.cmd("scancel", "--user", "root", check=False)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Slurm(gptest.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        cls.addClassCleanup(cls.cluster.stop)
        t0 = time.monotonic()
        cls.cluster.start()
        cls.started = time.monotonic() - t0

    def sbatch(self, *args):
        out = self.cluster.cmd("sbatch", "--parsable", *args, cwd=self.dir)
        return out.strip().split(";")[0]

    def states(self, job):
        """The state of every task of a job (an array's tasks one by one)."""
        out = self.cluster.cmd("scontrol", "-o", "show", "job", job)
        return re.findall(r"\bJobState=(\S+)", out)

    def wait_job(self, job):
        end = time.monotonic() + JOB_TIMEOUT
        while time.monotonic() < end:
            s = self.states(job)
            if s and all(x in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                               "OUT_OF_MEMORY") for x in s):
                return s
            time.sleep(0.2)
        raise AssertionError("job %s not done after %d s: %s\n%s"
                             % (job, JOB_TIMEOUT, self.states(job), self.job_logs()))

    def job_logs(self):
        out = []
        for n in sorted(os.listdir(self.dir)):
            if n.endswith(".log"):
                with open(self.path(n)) as f:
                    out.append("--- %s\n%s" % (n, f.read()))
        return "\n".join(out)

    def array_then_merge(self, *array):
        whole = gptest.shard_setup(self)
        env_gispipe = "--export=ALL,GISPIPE=%s" % gptest.GISPIPE
        arr = self.sbatch(env_gispipe, *array)
        merge = self.sbatch(env_gispipe, "--dependency=afterok:%s" % arr,
                            os.path.join(SLURM, "gispipe-merge.sbatch"), "merge.yaml", "-q")
        self.assertEqual(self.wait_job(arr), ["COMPLETED"] * 4, self.job_logs())
        self.assertEqual(self.wait_job(merge), ["COMPLETED"], self.job_logs())
        gptest.shard_check(self, whole, 4)

    def test_started_quickly(self):
        # The figure is about 3 s on 2 cores; a loaded machine gets
        # some slack, and a cluster that does not start fails setUpClass.
        self.assertLess(self.started, 30)

    def test_array_from_0_then_merge(self):
        self.array_then_merge("--array=0-3", os.path.join(SLURM, "gispipe-array.sbatch"),
                              "shard.yaml", "-q")

    def test_array_from_1_then_merge(self):
        # SLURM_ARRAY_TASK_MIN=1: tasks 1..4 are shards 0..3.
        self.array_then_merge("--array=1-4", os.path.join(SLURM, "gispipe-array.sbatch"),
                              "shard.yaml", "-q")

    def test_explicit_index_form(self):
        self.array_then_merge("--array=0-3", "--output=gispipe-shard-%A_%a.log", "--wrap",
                              "exec %s run shard.yaml -q --shard $SLURM_ARRAY_TASK_ID/4"
                              % gptest.GISPIPE)

    def test_failed_task_holds_the_merge(self):
        gptest.shard_setup(self)
        os.makedirs(self.path("parts"))
        open(self.path("parts", "part-1.gpkg"), "w").close()  # shard 1 cannot create it
        arr = self.sbatch("--array=0-3", os.path.join(SLURM, "gispipe-array.sbatch"),
                          "shard.yaml", "-q")
        merge = self.sbatch("--dependency=afterok:%s" % arr,
                            os.path.join(SLURM, "gispipe-merge.sbatch"), "merge.yaml", "-q")
        states = self.wait_job(arr)
        self.assertEqual(sorted(states), ["COMPLETED"] * 3 + ["FAILED"], self.job_logs())
        # The scheduler's next pass finds the dependency can never be met;
        # the merge stays pending, never run.
        end = time.monotonic() + 30
        while True:
            out = self.cluster.cmd("scontrol", "-o", "show", "job", merge)
            self.assertIn("JobState=PENDING", out)
            if "Reason=DependencyNeverSatisfied" in out or time.monotonic() > end:
                break
            time.sleep(0.2)
        self.assertIn("Reason=DependencyNeverSatisfied", out)
        self.cluster.cmd("scancel", merge)
        self.assertFalse(os.path.exists(self.path("merged.gpkg")))


if __name__ == "__main__":
    gptest.main()
