"""A user's integration test with kubeloop's pytest plugin: `pip install kubeloop`, then
`pytest examples/test_web.py`. The plugin starts one cluster for the session and gives
each test a fresh namespace (the `kubeloop` fixture), deleted afterwards."""

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx, ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: web.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
"""


def test_web_is_served(kubeloop):
    kubeloop.apply(WEB)
    kubeloop.wait_available("web")
    # from the host, through the ingress controller (any name that is not a cluster
    # name goes to the Ingress, as with an /etc/hosts entry)
    response = kubeloop.wait_serving("http://web.example.test/")
    assert "Welcome to nginx!" in response.text
    # from inside a pod, through the Service's DNS name
    result = kubeloop.exec("deploy/web", "curl -s http://web/")
    assert "Welcome to nginx!" in result.stdout
    # the cluster DNS, as a pod of this namespace would ask
    assert len(kubeloop.dns("web")) == 1
