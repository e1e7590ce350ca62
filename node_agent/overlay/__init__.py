"""The node agent's side of the overlay: the tunnel server carrying other nodes' traffic
to this node's pods (server.py). Routes, the wire format and the dialer are shared:
kubeloop/overlay."""
