"""The command line of the cluster processes (apiserver, node agent, ingress): the config
of a good data dir, exit 2 with the reason for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.config import ClusterConfig, process_command_line


@pytest.fixture
def data_dir(tmp_path: Path) -> str:
    ClusterConfig(data_dir=str(tmp_path)).save()
    return str(tmp_path)


def test_a_good_data_dir(data_dir: str) -> None:
    args, config = process_command_line("node_agent", "d", ["--data-dir", data_dir,
                                                             "--node", "1", "-v"], node=True)
    assert (args.node, args.verbose, config.data_dir) == (1, True, data_dir)


@pytest.mark.parametrize("argv, node, says", [
    (["--data-dir", "{missing}"], False, "apiserver: {missing}/cluster.json not found"),
    (["--data-dir", "{dir}", "--node", "0"], True, "apiserver: --node 0 must be 1..250"),
    (["--data-dir", "{dir}", "--node", "251"], True, "must be 1..250"),
    (["--data-dir", "{dir}"], True, "the following arguments are required: --node"),
    ([], False, "the following arguments are required: --data-dir"),
], ids=["missing-dir", "node-0", "node-251", "no-node", "no-data-dir"])
def test_bad_command_lines_exit_2_saying_why(
        argv: list[str], node: bool, says: str, data_dir: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nowhere")
    argv = [a.format(dir=data_dir, missing=missing) for a in argv]
    with pytest.raises(SystemExit) as exited:
        process_command_line("apiserver", "d", argv, node=node)
    assert exited.value.code == 2
    assert says.format(missing=missing) in capsys.readouterr().err


def test_a_config_that_is_not_json(tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cluster.json").write_text("{not json")
    with pytest.raises(SystemExit):
        process_command_line("ingress", "d", ["--data-dir", str(tmp_path)])
    assert "cluster.json: not valid JSON" in capsys.readouterr().err
