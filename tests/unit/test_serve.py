"""Components on hosts of their own (kubeloop serve, compose.yaml): the control plane's
config as another host uses it, the files each component waits for, a bootstrap token
chosen in advance, the exported kubeconfig, and the CLI's refusals."""

from __future__ import annotations

import dataclasses
import stat
import time
from pathlib import Path

import pytest
import yaml

from kubeloop import cli, join, pki, serve
from kubeloop.config import ClusterConfig, ConfigError, Network

TOKEN = "abcdef.0123456789abcdef"


def _control_plane(tmp_path: Path, advertise: str = "10.89.0.2") -> ClusterConfig:
    config = ClusterConfig(name="demo", data_dir=str(tmp_path), nodes=0,
                           network=dataclasses.replace(Network(), advertise_address=advertise))
    config.save()
    pki.ensure_pki(config)
    return config


def test_another_host_reaches_the_apiserver_at_its_advertise_address() -> None:
    net = dataclasses.replace(Network(), advertise_address="10.89.0.2")
    seen = net.seen_from_elsewhere()
    assert (seen.api_url, seen.grpc_target) == ("https://10.89.0.2:6443", "10.89.0.2:6444")
    assert Network().seen_from_elsewhere() == Network()


def test_the_view_waits_for_nothing_once_the_files_are_there(tmp_path: Path) -> None:
    _control_plane(tmp_path)
    config = serve.control_plane_view(tmp_path, serve.ingress_needs, wait=0)
    assert config.network.apiserver_ip == "10.89.0.2"
    assert config.network.advertise_address == "10.89.0.2"


def test_a_missing_file_is_named_after_the_wait(tmp_path: Path) -> None:
    config = _control_plane(tmp_path)
    config.ca_key.unlink()
    serve.control_plane_view(tmp_path, serve.dns_needs, wait=0)  # the DNS needs no CA key
    began = time.monotonic()
    with pytest.raises(ConfigError, match=r"ca\.key is missing.*--wait"):
        serve.control_plane_view(tmp_path, serve.ingress_needs, wait=0.3)
    assert time.monotonic() - began >= 0.3


def test_an_empty_folder_says_what_to_mount(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cluster.json not found.*mount the control plane"):
        serve.control_plane_view(tmp_path, serve.dns_needs, wait=0)


def test_a_control_plane_without_advertise_address_is_refused(tmp_path: Path) -> None:
    _control_plane(tmp_path, advertise="")
    with pytest.raises(ConfigError, match="--advertise-address"):
        serve.control_plane_view(tmp_path, serve.dns_needs, wait=0)


def test_a_seeded_token_is_accepted_and_replaces_its_older_self(tmp_path: Path) -> None:
    config = _control_plane(tmp_path)
    other = pki.create_bootstrap_token(config, 3600)
    pki.create_bootstrap_token(config, 60, token=TOKEN)  # kubeloop up --token, twice
    pki.create_bootstrap_token(config, None, token=TOKEN)
    records = pki.read_bootstrap_tokens(config)
    assert [r.token for r in records] == [other.token, TOKEN]
    assert records[1].expires is None
    assert join.accepted(records, TOKEN, time.time() + 10 * 365 * 86400)


def test_the_exported_kubeconfig_names_the_given_server(tmp_path: Path) -> None:
    config = _control_plane(tmp_path / "data")
    export = cli.Export(tmp_path / "out" / "kubeconfig", "https://127.0.0.1:6443")
    export.write(config)
    doc = yaml.safe_load(export.path.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert doc["users"][0]["user"]["token"] == pki.read_token(config.admin_token_file)
    assert stat.S_IMODE(export.path.stat().st_mode) == 0o600


@pytest.mark.parametrize(("argv", "message"), [
    (["up", "--token", "short.token"], "is not a bootstrap token"),
    (["up", "--token", TOKEN, "--token-ttl", "soon"], "--ttl 'soon'"),
    (["serve", "dns", "--data-dir", "/nonexistent/kubeloop"], "mount the control plane"),
])
def test_cli_refusals(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBELOOP_HOME", str(tmp_path))
    assert cli.main(argv) == 1
    assert message in capsys.readouterr().err
