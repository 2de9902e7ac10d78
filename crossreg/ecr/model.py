"""botocore's ECR service model (the same file the clients use), loaded once per process.

It is read with botocore's data loader rather than through a botocore session: a session brings
its client, credential and HTTP machinery (urllib3, jmespath, ...), about 3.5 MiB that a server
process would keep for nothing. The loader and the search path (botocore's data, ~/.aws/models,
AWS_DATA_PATH) are the ones a session uses, and no botocore handler changes ECR's model data.
"""

from __future__ import annotations

import functools
import os


@functools.cache
def service_model():
    from botocore.loaders import create_loader
    from botocore.model import ServiceModel

    loader = create_loader(os.environ.get("AWS_DATA_PATH"))
    return ServiceModel(loader.load_service_model("ecr", "service-2"), service_name="ecr")
