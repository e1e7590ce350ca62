"""kubeloop's built-in container images: what a container of a given image does when the
node agent starts it. See README.md in this folder for the catalogue."""

from node_agent.images.launch import start

__all__ = ["start"]
