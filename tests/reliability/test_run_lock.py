"""One run directory, one live run: a second process is refused at once, naming the directory
and the holder; the lock of a killed run is stale and taken over; the lock is released on error.

The holders are real child processes (``subprocess``), so the lock is tested across processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest
from _reliability import Child, child_env, synthetic

from wsss.engine import rundir as rundir_module
from wsss.engine.rundir import RunDir, RunLock, RunLockedError

HOLD = """
import os, sys, time
from wsss.engine.rundir import RunLock
lock = RunLock(sys.argv[1]).acquire()
if len(sys.argv) > 2:  # fork a long-lived child, as a data loader forks its workers
    worker = os.fork()
    if worker == 0:
        time.sleep(120)
        os._exit(0)
    print(worker, flush=True)
print("held", flush=True)
sys.stdin.read()  # hold until the test closes our stdin
lock.release()
print("released", flush=True)
"""


class Holder:
    """A child process that holds the lock of ``folder`` until :meth:`finish` or :meth:`kill`."""

    def __init__(self, folder, fork=False):
        self.process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder),
                                         *(["fork"] if fork else [])],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=child_env())
        self.worker = int(self.process.stdout.readline()) if fork else None
        line = self.process.stdout.readline()
        if line != "held\n":  # refused: report the child's error
            out, err = self.process.communicate(timeout=60)
            raise AssertionError(line + out + err)

    def finish(self):
        out, err = self.process.communicate(input="", timeout=60)
        assert self.process.returncode == 0 and out == "released\n", err

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)  # not communicate(): a forked worker keeps the pipes open
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            pipe.close()
        assert self.process.returncode == -signal.SIGKILL


def acquire_in_thread(lock):
    """Try ``lock.acquire()`` in a thread; it must return or raise, never block."""
    outcome = {}

    def attempt():
        try:
            outcome["value"] = lock.acquire()
        except BaseException as exc:  # reported to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "acquire() blocked instead of refusing"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_second_process_is_refused_while_the_holder_lives(tmp_path):
    run = tmp_path / "run"
    holder = Holder(run)
    try:
        info = json.loads((run / "run.lock").read_text())
        assert info["pid"] == holder.process.pid and info["host"] == socket.gethostname()
        with pytest.raises(RunLockedError) as error:
            acquire_in_thread(RunLock(run))
        message = str(error.value)
        assert f"run directory {run} is in use by pid {holder.process.pid} on host " \
               f"{socket.gethostname()}" in message
        assert str(run / "run.lock") in message
        assert (run / "run.lock").exists()  # the refusal did not disturb the holder's lock
    finally:
        holder.finish()
    assert not (run / "run.lock").exists()  # the holder cleaned up
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean release leaves nothing stale to take over
        with RunDir(run).lock() as lock:
            assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_the_lock_of_a_killed_run_is_stale_and_taken_over(tmp_path):
    run = tmp_path / "run"
    holder = Holder(run)
    dead = holder.process.pid
    holder.kill()
    assert json.loads((run / "run.lock").read_text())["pid"] == dead  # left behind
    with pytest.warns(RuntimeWarning, match=rf"run\.lock: taking over the stale lock of pid "
                      rf"{dead} on host {socket.gethostname()}"):
        lock = acquire_in_thread(RunLock(run))
    try:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        with pytest.raises(AssertionError, match=rf"RunLockedError: .* in use by pid "
                           rf"{os.getpid()}"):
            Holder(run)  # now a child is the one refused
    finally:
        lock.release()
    assert not (run / "run.lock").exists()


def test_a_forked_child_of_a_killed_run_does_not_keep_its_lock(tmp_path):
    """A data-loader worker outlives its killed parent for a while: the lock must not."""
    run = tmp_path / "run"
    holder = Holder(run, fork=True)
    try:
        holder.kill()
        os.kill(holder.worker, 0)  # the worker still lives
        with pytest.warns(RuntimeWarning, match="stale lock"), RunLock(run) as lock:
            assert lock.holder()["pid"] == os.getpid()
    finally:
        os.kill(holder.worker, signal.SIGKILL)


def test_a_hand_written_lock_of_a_finished_process_is_taken_over(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(gone.stdout)
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                              "started": "2024-01-01T00:00:00+00:00",
                                              "command": "train_seenet.py"}))
    with pytest.warns(RuntimeWarning, match=f"stale lock of pid {pid}"), RunLock(run) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_the_lock_is_released_when_the_block_fails(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ZeroDivisionError), RunLock(run):
        print(1 / 0)
    assert not (run / "run.lock").exists()
    Holder(run).finish()  # another process gets it at once


def test_the_holder_may_nest_but_others_wait_for_the_outermost_release(tmp_path):
    run = tmp_path / "run"
    with RunLock(run), RunDir(run).lock():
        pass  # nested: the same process re-enters
    with RunLock(run) as outer:
        with RunLock(run) as inner:
            assert inner.holder()["pid"] == os.getpid()
        assert outer.held and (run / "run.lock").exists()
        with pytest.raises(AssertionError, match=rf"RunLockedError: .* in use by pid "
                           rf"{os.getpid()}"):
            Holder(run)
    Holder(run).finish()


@pytest.mark.parametrize(("host", "alive", "refused"), [
    ("here", True, True), ("here", False, False), ("elsewhere", True, True),
])
def test_without_flock_the_pid_and_host_decide(tmp_path, monkeypatch, host, alive,
                                                      refused):
    """On a file system without ``flock`` the pid and host in the file decide."""
    monkeypatch.setattr(rundir_module, "fcntl", None)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        if not alive:
            sleeper.kill()
            sleeper.wait()
        run = tmp_path / "run"
        run.mkdir()
        name = socket.gethostname() if host == "here" else "another-host.example"
        (run / "run.lock").write_text(json.dumps({"pid": sleeper.pid, "host": name}))
        if refused:
            with pytest.raises(RunLockedError, match=rf"pid {sleeper.pid} on host {name}"):
                RunLock(run).acquire()
        else:
            with pytest.warns(RuntimeWarning, match="stale"), RunLock(run):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()


def test_training_refuses_a_run_directory_that_a_live_training_holds(tmp_path):
    """A real training process holds its run directory; training into it from here fails at
    once, naming the directory and the child's pid; after the child dies, resuming works."""
    from wsss.data.loader import AugmentedDataset
    from wsss.data.synthetic import SyntheticVOC
    from wsss.data.transforms import TORCHVISION
    from wsss.engine.steps import classifier_step
    from wsss.engine.trainer import TrainConfig, train
    from wsss.models import create_model

    run = tmp_path / "run"
    child = Child("train_seenet", [*synthetic(8), "--iterations", "1000", "--batch-size", "4",
                                   "--checkpoint-every", "1", "--run-dir", str(run)],
                  tmp_path / "child.log", slow_disk=0.05)
    try:
        deadline = time.monotonic() + 150
        while not (run / "checkpoint.pt").exists():  # the child is training
            assert child.process.poll() is None, child.output()
            assert time.monotonic() < deadline, child.output()
            time.sleep(0.01)
        model = create_model("cam_classifier", backbone="resnet_tiny")
        images = AugmentedDataset(SyntheticVOC(4, image_size=48), None, TORCHVISION, seed=0)
        config = TrainConfig(iterations=1, batch_size=2)
        with pytest.raises(RunLockedError, match=rf"run directory {run} is in use by pid "
                           rf"{child.process.pid} on host"):
            train(model, images, classifier_step, config, RunDir(run), progress=False)
        assert child.process.poll() is None  # the child was not disturbed
    finally:
        child.process.kill()
        child.wait()
