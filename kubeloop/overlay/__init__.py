"""The pod network between nodes (see node_agent/README.md, "Overlay"): routes from Node
objects (routes.py, followed by follower.py), the tunnel's wire format (wire.py), and the dialer every process
connects to pods through (dialer.py). The tunnel server is node_agent/overlay."""

from kubeloop.overlay.dialer import Dialer, install, installed, open_tcp, open_udp
from kubeloop.overlay.routes import Mode, Route, Routes
from kubeloop.overlay.wire import PORT

__all__ = ["Dialer", "Mode", "PORT", "Route", "Routes", "install", "installed",
           "open_tcp", "open_udp"]
