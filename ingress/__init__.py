"""kubeloop's ingress controller: ingress-nginx's routing, annotations and TLS, served by
an asyncio reverse proxy. See README.md."""

from ingress.controller import (ENDPOINT_SLICES, INGRESS_CLASSES, INGRESSES, KINDS, SECRETS,
                                SERVICES, ControllerConfig, IngressController)
from ingress.proxy import ProxyConfig
from ingress.routing import Problem

__all__ = ["IngressController", "ControllerConfig", "ProxyConfig", "Problem", "KINDS",
           "INGRESSES", "INGRESS_CLASSES", "SERVICES", "ENDPOINT_SLICES", "SECRETS"]
