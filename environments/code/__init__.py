"""Code environments run in the sandbox: python-tests, stdio, a retry variant and HumanEval."""
