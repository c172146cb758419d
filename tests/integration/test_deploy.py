"""deploy/: the GNU parallel example and the Kubernetes Indexed Job manifest
run as they are, then the merge, against one unsharded run.  (The Slurm
scripts run on a real cluster in test_slurm.)"""
import os
import subprocess

import yaml  # python3-yaml (scripts/deps)

import gptest

DEPLOY = os.path.join(gptest.SRC, "deploy")


class Deploy(gptest.TempDirTest):
    def test_gnu_parallel(self):
        whole = gptest.shard_setup(self)
        env = dict(os.environ, GISPIPE=gptest.GISPIPE)
        p = subprocess.run([os.path.join(DEPLOY, "parallel", "run.sh"), "shard.yaml",
                            "merge.yaml", "4"], cwd=self.dir, env=env, capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        gptest.shard_check(self, whole, 4)

    def test_gnu_parallel_failed_shard_stops_before_merge(self):
        gptest.shard_setup(self)
        # A shard that cannot create its part: no merge, the failure's code.
        os.makedirs(self.path("parts"))
        open(self.path("parts", "part-2.gpkg"), "w").close()
        env = dict(os.environ, GISPIPE=gptest.GISPIPE)
        p = subprocess.run([os.path.join(DEPLOY, "parallel", "run.sh"), "shard.yaml",
                            "merge.yaml", "4"], cwd=self.dir, env=env, capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(p.returncode, gptest.EX_CANTCREAT, p.stdout + p.stderr)
        self.assertFalse(os.path.exists(self.path("merged.gpkg")))

    def container(self, manifest):
        with open(os.path.join(DEPLOY, "k8s", manifest)) as f:
            job = yaml.safe_load(f)
        self.assertEqual(job["kind"], "Job")
        spec = job["spec"]
        pod = spec["template"]["spec"]
        self.assertEqual(pod["restartPolicy"], "Never")
        (c,) = pod["containers"]
        env = {e["name"]: e["value"] for e in c.get("env", [])}
        argv = c["command"] + c.get("args", [])
        self.assertEqual(argv[0], "gispipe")
        return spec, env, gptest.WRAPPER + [gptest.GISPIPE] + argv[1:]

    def test_k8s_indexed_job(self):
        whole = gptest.shard_setup(self)
        spec, env, argv = self.container("indexed-job.yaml")
        self.assertEqual(spec["completionMode"], "Indexed")
        n = spec["completions"]
        self.assertGreater(n, 1)
        self.assertLessEqual(spec["parallelism"], n)
        # The count the pods read is the manifest's own completions.
        self.assertEqual(env["GISPIPE_SHARD_COUNT"], str(n))
        # Each pod as Kubernetes starts it: the manifest's environment and
        # its index, in its working directory (here the test's).
        for i in range(n):
            e = dict(os.environ, JOB_COMPLETION_INDEX=str(i), **env)
            p = subprocess.run(argv, cwd=self.dir, env=e, capture_output=True, text=True,
                               timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        spec, env, argv = self.container("merge-job.yaml")
        p = subprocess.run(argv, cwd=self.dir, env=dict(os.environ, **env), capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        gptest.shard_check(self, whole, n)


if __name__ == "__main__":
    gptest.main()
