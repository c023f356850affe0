"""A Python ALB target: greets the caller and reports which execution environment served it."""

import json
import os
import time

STARTED = time.time()  # module scope runs once per environment (INIT)
INVOCATIONS = 0


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    query = event.get("queryStringParameters") or {}
    multi = event.get("multiValueQueryStringParameters") or {}
    name = query.get("name") or (multi.get("name") or ["world"])[-1]
    print(f"hello-python: request {context.aws_request_id}, invocation {INVOCATIONS} of this environment")
    body = {
        "message": f"Hello, {name}!",
        "path": event.get("path"),
        "method": event.get("httpMethod"),
        "environment": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "invocationsInThisEnvironment": INVOCATIONS,
        "remainingTimeMs": context.get_remaining_time_in_millis(),
    }
    headers = {"Content-Type": "application/json"}
    response = {"statusCode": 200, "statusDescription": "200 OK", "isBase64Encoded": False, "body": json.dumps(body)}
    if "multiValueHeaders" in event:
        response["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        response["headers"] = headers
    return response
