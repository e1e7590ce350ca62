"""Entry point placeholder: the ingress controller process arrives with its own issue."""

import sys

if __name__ == "__main__":
    print("ingress: the ingress controller is not part of this kubeloop version yet",
          file=sys.stderr)
    sys.exit(2)
