"""--dask local (a LocalCluster with 2 workers) gives the same bytes and trace records as one process."""
import pytest
from click.testing import CliRunner

from cli import main
from tests.test_parallel import run_chunks, run_here, screen_cli, trace_records, varied_csv

pytest.importorskip("dask.distributed")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_chunks_screened_on_a_local_cluster_give_the_same_bytes(tmp_path, fmt):
    source = varied_csv(tmp_path / "varied.csv", rows=1200, seed=24)
    got, info = run_chunks(source, fmt, dask="local", jobs=2, chunk_rows=100)
    assert info["stats"]["chunks"] == 12  # every chunk was a task on the cluster
    assert got == run_here(source, fmt)[0]


def test_dask_local_gives_the_same_bytes_and_trace_records(tmp_path):
    source = varied_csv(tmp_path / "varied.csv", rows=2500, seed=22)
    outputs = {}
    for name, extra in (("one", ["--jobs", "1"]), ("dask", ["--dask", "local", "--jobs", "2"])):
        out = tmp_path / f"{name}.csv"
        trace = tmp_path / f"{name}.trace"
        result = screen_cli([str(source), "-o", str(out), "--trace", str(trace), "-q", *extra])
        assert result.exit_code == 1, result.output  # the input has error rows
        outputs[name] = (out.read_bytes(), trace_records(trace))
        verify = CliRunner().invoke(main, ["audit", "verify", str(trace)])
        assert verify.exit_code == 0, verify.output
    assert outputs["dask"] == outputs["one"]


def test_unreachable_scheduler_is_an_invocation_error(tmp_path, monkeypatch):
    from engine import parallel

    monkeypatch.setattr(parallel.DaskExecutor, "CONNECT_TIMEOUT", "2s")
    source = varied_csv(tmp_path / "small.csv", rows=20, seed=23)
    result = screen_cli([str(source), "-o", str(tmp_path / "out.csv"), "--dask", "tcp://127.0.0.1:9", "-q"])
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in result.output
    assert "Traceback" not in result.output


def test_pieces_of_text_screened_on_a_local_cluster_give_the_same_bytes(tmp_path):
    from tests.test_text_chunks import assert_same

    data = varied_csv(tmp_path / "varied.csv", rows=1500, seed=25).read_bytes()
    stats = assert_same(data, chunk_chars=20_000, dask="local", jobs=2, make_executor=None)
    assert stats["chunks"] > 5


def test_cli_on_dask_without_a_trace_gives_the_bytes_of_one_process(tmp_path):
    source = varied_csv(tmp_path / "varied.csv", rows=2500, seed=26)
    outputs = []
    for extra in (["--jobs", "1"], ["--dask", "local", "--jobs", "2"]):
        out = tmp_path / f"out{len(outputs)}.csv"
        result = screen_cli([str(source), "-o", str(out), "-q", *extra])
        assert result.exit_code == 1, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
