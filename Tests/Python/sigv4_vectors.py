"""Prints SigV4 test vectors signed by botocore (the client the control API serves), for
Tests/ControlAPITests/SigV4Tests.swift: `.venv/bin/python tests/sigv4_vectors.py`.

Each vector is a request exactly as botocore would send it to http://127.0.0.1:9001 at a fixed time, with its
Authorization header; the Swift test recomputes the signature with the same secret and must match.
"""
import datetime
import json
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FIXED = datetime.datetime(2026, 11, 28, 14, 35, 39)


def sign(method, url, headers=None, body=b"", token=None):
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=FIXED):
        botocore.auth.SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    prepared = request.prepare()
    target = prepared.url.split("127.0.0.1:9001", 1)[1]
    return {
        "method": method,
        "target": target,
        "headers": [[k, v if isinstance(v, str) else v.decode()] for k, v in prepared.headers.items()],
        "body": body.decode(),
    }


base = "http://127.0.0.1:9001"
vectors = [
    sign("GET", base + "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn%3Aprod"),
    sign("GET", base + "/2015-03-31/functions?FunctionVersion=ALL&MaxItems=10&Marker=abc"),
    sign("GET", base + "/2015-03-31/functions/my-fn/configuration?Qualifier=%24LATEST"),
    sign(
        "POST",
        base + "/2015-03-31/functions/my-fn/invocations?Qualifier=prod",
        {
            "X-Amz-Invocation-Type": "RequestResponse",
            "X-Amz-Log-Type": "Tail",
            "X-Amz-Client-Context": "eyJjdXN0b20iOnsiYSI6MX19",
        },
        b'{"x":1}',
    ),
    sign("DELETE", base + "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn?tagKeys=b%20key&tagKeys=a"),
    sign("GET", base + "/2015-03-31/functions/my-fn", token="session-token-example"),
]
print(json.dumps(vectors, indent=1))
