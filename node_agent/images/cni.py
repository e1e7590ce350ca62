"""The network plugin's own programs: calico-node, calico-kube-controllers and flanneld.
Their work is done by the node agents (pod addresses and routes are loopback; NetworkPolicy
is node_agent/enforcement.py), so each only starts as the real one logs it and runs until
stopped, listening on nothing. Log lines are pure functions of the clock passed in."""

from __future__ import annotations

from datetime import datetime, timezone

from node_agent.images.model import Exit, Program


def calico_time(now: float) -> str:
    """``2024-12-03 10:00:00.123``: Calico's logrus formatter."""
    moment = datetime.fromtimestamp(now, timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def klog_time(now: float) -> str:
    """``1203 10:00:00.123456``: klog's header after the severity letter."""
    return datetime.fromtimestamp(now, timezone.utc).strftime("%m%d %H:%M:%S.%f")


class CalicoNode(Program):
    """calico/node: the per-node agent (Felix, BIRD, confd under runit)."""

    def __init__(self, version: str, node: str) -> None:
        self.version = version
        self.node = node

    def banner(self, now: float) -> list[str]:
        t = calico_time(now)
        return [f"{t} [INFO][9] startup/startup.go 427: Early log level set to info",
                f"{t} [INFO][9] startup/utils.go 126: Using NODENAME environment for node "
                f"name {self.node}",
                f"{t} [INFO][9] startup/utils.go 138: Determined node name: {self.node}",
                f"{t} [INFO][9] startup/startup.go 106: Skipping datastore connection test",
                f"{t} [INFO][9] startup/startup.go 201: Calico node started successfully",
                f"{t} [INFO][62] felix/daemon.go 377: Successfully loaded configuration. "
                f"GOMAXPROCS=2 builddate=\"\" gitcommit=\"\" version=\"{self.version}\""]

    def terminated(self, now: float) -> Exit:
        # runit passes SIGTERM to its services and exits cleanly once they are down.
        return Exit(0, (f"{calico_time(now)} [INFO][62] felix/daemon.go 1186: Received "
                        "SIGTERM, shutting down",))


class CalicoKubeControllers(Program):
    """calico/kube-controllers: keeps Calico's datastore in step with the Kubernetes API."""

    def __init__(self, version: str) -> None:
        self.version = version

    def banner(self, now: float) -> list[str]:
        t = calico_time(now)
        return [f"{t} [INFO][1] main.go 92: Starting calico/kube-controllers "
                f"version={self.version}",
                f"{t} [INFO][1] main.go 99: Loaded configuration from environment "
                "config=&config.Config{LogLevel:\"info\", DatastoreType:\"kubernetes\"}",
                f"{t} [INFO][1] main.go 137: Ensuring Calico datastore is initialized",
                f"{t} [INFO][1] main.go 180: Calico datastore is initialized",
                f"{t} [INFO][1] main.go 223: Starting status report routine",
                f"{t} [INFO][1] main.go 485: Starting controller ControllerType=\"Node\"",
                f"{t} [INFO][1] controller.go 193: Starting Node controller"]


class Flanneld(Program):
    """flannel/flannel: flanneld with the Kubernetes subnet manager (--kube-subnet-mgr)."""

    def __init__(self, version: str, node: str) -> None:
        self.version = version
        self.node = node

    def banner(self, now: float) -> list[str]:
        t = klog_time(now)
        return [f"I{t}       1 main.go:211] flannel version {self.version}",
                f"I{t}       1 kube.go:139] Waiting 10m0s for node controller to sync",
                f"I{t}       1 kube.go:469] Starting kube subnet manager",
                f"I{t}       1 main.go:238] Created subnet manager: Kubernetes Subnet "
                f"Manager - {self.node}",
                f"I{t}       1 main.go:241] Installing signal handlers",
                f"I{t}       1 main.go:452] Found network config - Backend type: vxlan",
                f"I{t}       1 main.go:556] Running backend.",
                f"I{t}       1 main.go:577] Wrote subnet file to /run/flannel/subnet.env"]

    def terminated(self, now: float) -> Exit:
        return Exit(0, (f"I{klog_time(now)}       1 main.go:565] shutdownHandler sent "
                        "cancel signal...", f"I{klog_time(now)}       1 main.go:605] "
                        "Exiting cleanly..."))
