"""IAM policy engine for ECR repository and registry policies: pure, no I/O.

- ``arn``: ARN parsing/building and IAM wildcard matching
- ``policy``: ``parse_policy`` → ``Policy`` or ``PolicyError``
- ``evaluate``: ``evaluate`` / ``is_allowed`` with IAM precedence (explicit deny > allow > implicit deny)
- ``actions``: the ``ecr:`` action catalogue and the OCI request → action mapping
- ``statements``: console-style generated statements and ``merge_statement``
"""
