"""Scale and robustness of the training loops: DDP on 2 CPU processes (gloo, loopback), kill + resume."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MASTER_ADDR"] = "127.0.0.1"
    return env


def test_two_process_ddp_gives_identical_weights_on_both_ranks(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", "29517", str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path)]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "world0.txt").read_text().startswith("2 ")  # really two processes
    a, b = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0)
    # and training did move the weights away from the zero-initialised output layer
    assert a["out.weight"].abs().max() > 0


def _run(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "equigen_core", *args], env=_env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def test_killed_run_resumes_to_the_same_step_count(tmp_path):
    zoo, enc, out = tmp_path / "zoo", tmp_path / "enc", tmp_path / "diff"
    assert _run(["build-zoo", "--limit", "20", "--out", str(zoo), "--target-psnr", "20"]).wait(120) == 0
    assert _run(["train", "encoder", "--zoo", str(zoo), "--out", str(enc), "--steps", "2", "--batch-size", "8",
                 "--channels", "4"]).wait(120) == 0
    train = ["train", "diffusion", "--zoo", str(zoo), "--encoder", str(enc), "--out", str(out), "--preset", "tiny",
             "--steps", "400", "--batch-size", "8", "--save-every", "20", "--classes", "all"]
    proc = _run(train)
    state = tmp_path / "diff.train_state"
    deadline = time.time() + 120
    while not state.is_dir() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # a hard kill, mid-way
    proc.wait(30)
    assert state.is_dir() and not (out / "config.json").exists()
    resumed = _run(train + ["--resume"])
    log = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, log[-3000:]
    import json

    summary = json.loads((out / "config.json").read_text())["summary"]
    assert summary["start_step"] >= 20 and summary["start_step"] % 20 == 0
    assert summary["start_step"] + summary["steps_run"] == 400
