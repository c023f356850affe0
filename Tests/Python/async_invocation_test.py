"""Asynchronous invocation against a running Albatross, with real boto3 (pinned in scripts/setup.sh).

Run by Tests/IntegrationTests/AsyncInvocationEndToEndTests.swift, which starts `albatross serve` and sets:
  ALBATROSS_API_ENDPOINT   http://127.0.0.1:<port> (auth: none)
  ALBATROSS_DIR            the test directory: records/ (what `recorder` received), attempts.txt (each attempt of
                           `failing`), data/outbox/ (SQS and SNS messages)
The server declares (async delayScale 0.002, so the 60 s and 120 s retry delays take 120 ms and 240 ms):
  failing    always raises; YAML eventInvokeConfig OnFailure -> recorder, deadLetterConfig -> SQS dlq
  working    returns {"ok": true, "got": event}
  recorder   writes each event it gets to records/<uuid>.json
  slow       sleeps event["sleep"] (0.5 s) then appends event["n"] to ran.txt (maximumConcurrency 1)
  orphan     returns {}; YAML OnSuccess -> a function that does not exist (a destination delivery failure)
(`slow` is used by the Swift test's restart step, not here.)
"""
import glob
import io
import json
import os
import time
import unittest
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["ALBATROSS_API_ENDPOINT"]
DIR = os.environ["ALBATROSS_DIR"]
ARN = "arn:aws:lambda:us-east-1:123456789012:function"
LAMBDA = boto3.client(
    "lambda",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    aws_access_key_id="AKIDLOCAL",
    aws_secret_access_key="local",
    config=Config(retries={"max_attempts": 1}, read_timeout=30),
)


def error_of(call):
    try:
        call()
    except ClientError as error:
        return error.response
    raise AssertionError("the call succeeded")


def eventually(find, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("not found in time")


def record_for(request_id):
    """The destination record `recorder` received for this request id."""

    def find():
        for path in glob.glob(os.path.join(DIR, "records", "*.json")):
            with open(path) as file:
                record = json.load(file)
            if record.get("requestContext", {}).get("requestId") == request_id:
                return record
        return None

    return eventually(find)


def outbox_line(service, name, match):
    path = os.path.join(DIR, "data", "outbox", service, f"{name}.jsonl")

    def find():
        if not os.path.exists(path):
            return None
        with open(path) as file:
            for line in file:
                message = json.loads(line)
                if match(message):
                    return message
        return None

    return eventually(find)


def invoke_event(function, payload):
    response = LAMBDA.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(payload).encode())
    return response


class AsyncInvocation(unittest.TestCase):
    def test_1_event_is_accepted_with_202_and_an_empty_body(self):
        response = invoke_event("working", {"hello": 1})
        self.assertEqual(response["StatusCode"], 202)
        self.assertEqual(response["Payload"].read(), b"")
        self.assertNotIn("ExecutedVersion", response)
        self.assertNotIn("FunctionError", response)
        self.assertEqual(len(response["ResponseMetadata"]["RequestId"]), 36)
        # The deprecated InvokeAsync answers 202 with Status too.
        self.assertEqual(LAMBDA.invoke_async(FunctionName="working", InvokeArgs=b'{"old": 1}')["Status"], 202)
        missing = error_of(lambda: invoke_event("nope", {}))
        self.assertEqual(missing["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(missing["Error"]["Message"], f"Function not found: {ARN}:nope:$LATEST")

    def test_2_async_payload_limit_is_one_megabyte(self):
        exact = b'"' + b"a" * (1048576 - 2) + b'"'
        self.assertEqual(LAMBDA.invoke(FunctionName="working", InvocationType="Event", Payload=exact)["StatusCode"], 202)
        over = error_of(
            lambda: LAMBDA.invoke(FunctionName="working", InvocationType="Event", Payload=b'"' + b"a" * 1048575 + b'"')
        )
        self.assertEqual(over["ResponseMetadata"]["HTTPStatusCode"], 413)
        self.assertEqual(over["Error"]["Code"], "RequestEntityTooLargeException")
        self.assertEqual(
            over["Error"]["Message"], "Request must be smaller than 1048576 bytes for the InvokeFunction operation"
        )
        # The synchronous limit is unchanged.
        self.assertEqual(LAMBDA.invoke(FunctionName="working", Payload=b'"' + b"a" * 1048575 + b'"')["StatusCode"], 200)

    def test_3_event_invoke_config_operations_and_errors(self):
        put = LAMBDA.put_function_event_invoke_config(
            FunctionName="working",
            MaximumRetryAttempts=1,
            MaximumEventAgeInSeconds=60,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}},
        )
        self.assertEqual(put["FunctionArn"], f"{ARN}:working:$LATEST")
        self.assertEqual(put["MaximumRetryAttempts"], 1)
        self.assertEqual(put["MaximumEventAgeInSeconds"], 60)
        self.assertEqual(
            put["DestinationConfig"], {"OnSuccess": {}, "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}}
        )
        self.assertIsNotNone(put["LastModified"].year)
        # Update merges; Put replaces.
        updated = LAMBDA.update_function_event_invoke_config(FunctionName="working", MaximumRetryAttempts=0)
        self.assertEqual(updated["MaximumRetryAttempts"], 0)
        self.assertEqual(updated["MaximumEventAgeInSeconds"], 60)
        self.assertEqual(updated["DestinationConfig"]["OnFailure"], {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"})
        replaced = LAMBDA.put_function_event_invoke_config(FunctionName="working", MaximumEventAgeInSeconds=120)
        self.assertNotIn("MaximumRetryAttempts", replaced)
        self.assertEqual(replaced["DestinationConfig"], {"OnSuccess": {}, "OnFailure": {}})
        got = LAMBDA.get_function_event_invoke_config(FunctionName="working")
        self.assertEqual(got["MaximumEventAgeInSeconds"], 120)
        listed = LAMBDA.list_function_event_invoke_configs(FunctionName="failing")["FunctionEventInvokeConfigs"]
        self.assertEqual([item["FunctionArn"] for item in listed], [f"{ARN}:failing:$LATEST"])
        self.assertEqual(listed[0]["DestinationConfig"]["OnFailure"], {"Destination": f"{ARN}:recorder"})
        self.assertEqual(LAMBDA.delete_function_event_invoke_config(FunctionName="working")["ResponseMetadata"]["HTTPStatusCode"], 204)
        missing = error_of(lambda: LAMBDA.get_function_event_invoke_config(FunctionName="working"))
        self.assertEqual(missing["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(
            missing["Error"]["Message"], f"The function {ARN}:working:$LATEST doesn't have an EventInvokeConfig"
        )
        self.assertEqual(
            error_of(lambda: LAMBDA.update_function_event_invoke_config(FunctionName="working", MaximumRetryAttempts=1))[
                "Error"
            ]["Code"],
            "ResourceNotFoundException",
        )
        nothing = error_of(lambda: LAMBDA.put_function_event_invoke_config(FunctionName="working"))
        self.assertEqual(nothing["Error"]["Code"], "InvalidParameterValueException")
        self.assertEqual(nothing["Error"]["Message"], "You must specify at least one of error handling or destination setting.")
        no_function = error_of(lambda: LAMBDA.put_function_event_invoke_config(FunctionName="nope", MaximumRetryAttempts=1))
        self.assertEqual(no_function["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(no_function["Error"]["Message"], "The function doesn't exist.")
        too_many = error_of(lambda: LAMBDA.put_function_event_invoke_config(FunctionName="working", MaximumRetryAttempts=3))
        self.assertEqual(too_many["Error"]["Code"], "ValidationException")
        self.assertEqual(
            too_many["Error"]["Message"],
            "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: "
            "Member must have value less than or equal to 2",
        )
        too_old = error_of(
            lambda: LAMBDA.put_function_event_invoke_config(FunctionName="working", MaximumEventAgeInSeconds=21601)
        )
        self.assertEqual(too_old["Error"]["Code"], "ValidationException")

        def destination_error(arn, key="OnSuccess"):
            return error_of(
                lambda: LAMBDA.put_function_event_invoke_config(
                    FunctionName="working", DestinationConfig={key: {"Destination": arn}}
                )
            )["Error"]

        self.assertEqual(
            destination_error(f"{ARN}:working")["Message"], "You can't specify the function as a destination for itself."
        )
        self.assertEqual(destination_error(f"{ARN}:nowhere")["Message"], f"The destination ARN {ARN}:nowhere is invalid.")
        iam = "arn:aws:iam::123456789012:role/r"
        self.assertEqual(
            destination_error(iam)["Message"],
            f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={iam}), onFailure=null) is invalid.",
        )
        malformed = destination_error("not-an-arn", key="OnFailure")
        self.assertEqual(malformed["Code"], "ValidationException")
        self.assertIn("'destinationConfig.onFailure.destination'", malformed["Message"])

    def test_4_failing_event_reaches_its_failure_destination_and_dead_letter_queue_after_two_retries(self):
        payload = {"case": "fail", "n": 4}
        request_id = invoke_event("failing", payload)["ResponseMetadata"]["RequestId"]
        record = record_for(request_id)
        self.assertEqual(record["version"], "1.0")
        self.assertRegex(record["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(
            record["requestContext"],
            {
                "requestId": request_id,
                "functionArn": f"{ARN}:failing:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
        )
        self.assertEqual(record["requestPayload"], payload)
        self.assertEqual(
            record["responseContext"], {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        )
        self.assertEqual(record["responsePayload"]["errorMessage"], "always fails")
        self.assertEqual(record["responsePayload"]["errorType"], "ValueError")
        # Three attempts, all with the event's request id (AWS keeps it across retries).
        with open(os.path.join(DIR, "attempts.txt")) as file:
            attempts = [line.strip() for line in file if line.strip() == request_id]
        self.assertEqual(len(attempts), 3)
        # The dead-letter message is the event itself, with AWS's attributes.
        message = outbox_line("sqs", "dlq", lambda m: m["Attributes"].get("RequestID") == request_id)
        self.assertEqual(json.loads(message["Body"]), payload)
        self.assertEqual(message["TargetArn"], "arn:aws:sqs:us-east-1:123456789012:dlq")
        self.assertEqual(message["Attributes"]["ErrorCode"], "200")
        self.assertEqual(message["Attributes"]["ErrorMessage"], "always fails")

    def test_5_maximum_retry_attempts_zero_set_through_the_api(self):
        LAMBDA.put_function_event_invoke_config(
            FunctionName="failing",
            MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:sns:us-east-1:123456789012:alarms"}},
        )
        request_id = invoke_event("failing", {"n": 5})["ResponseMetadata"]["RequestId"]
        message = outbox_line("sns", "alarms", lambda m: json.loads(m["Body"])["requestContext"]["requestId"] == request_id)
        record = json.loads(message["Body"])
        self.assertEqual(record["requestContext"]["condition"], "RetriesExhausted")
        self.assertEqual(record["requestContext"]["approximateInvokeCount"], 1)

    def test_6_success_destinations_lambda_and_sqs(self):
        LAMBDA.put_function_event_invoke_config(
            FunctionName="working", DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:recorder"}}
        )
        request_id = invoke_event("working", {"n": 6})["ResponseMetadata"]["RequestId"]
        record = record_for(request_id)
        self.assertEqual(record["requestContext"]["condition"], "Success")
        self.assertEqual(record["requestContext"]["approximateInvokeCount"], 1)
        self.assertEqual(record["requestContext"]["functionArn"], f"{ARN}:working:$LATEST")
        self.assertEqual(record["responseContext"], {"statusCode": 200, "executedVersion": "$LATEST"})
        self.assertEqual(record["responsePayload"], {"ok": True, "got": {"n": 6}})

        queue = "arn:aws:sqs:us-east-1:123456789012:done"
        LAMBDA.update_function_event_invoke_config(FunctionName="working", DestinationConfig={"OnSuccess": {"Destination": queue}})
        request_id = invoke_event("working", {"n": 17})["ResponseMetadata"]["RequestId"]
        message = outbox_line("sqs", "done", lambda m: json.loads(m["Body"])["requestContext"]["requestId"] == request_id)
        self.assertEqual(message["TargetArn"], queue)
        self.assertEqual(len(message["MessageId"]), 36)
        body = json.loads(message["Body"])
        self.assertEqual(body["requestPayload"], {"n": 17})
        self.assertEqual(body["responsePayload"], {"ok": True, "got": {"n": 17}})

    def test_7_an_event_older_than_its_maximum_age_is_not_retried(self):
        # 60 s scaled by 0.002 is 120 ms: the first retry (60 s -> 120 ms after the attempt) would come too late.
        LAMBDA.put_function_event_invoke_config(
            FunctionName="failing",
            MaximumEventAgeInSeconds=60,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:aged"}},
        )
        request_id = invoke_event("failing", {"n": 7})["ResponseMetadata"]["RequestId"]
        message = outbox_line("sqs", "aged", lambda m: json.loads(m["Body"])["requestContext"]["requestId"] == request_id)
        record = json.loads(message["Body"])
        self.assertEqual(record["requestContext"]["condition"], "EventAgeExceeded")
        # One attempt, unless a loaded machine took more than 120 ms to start it: then none, and no response.
        if record["requestContext"]["approximateInvokeCount"] == 1:
            self.assertEqual(record["responseContext"]["functionError"], "Unhandled")
        else:
            self.assertEqual(record["requestContext"]["approximateInvokeCount"], 0)
            self.assertNotIn("responseContext", record)

    def test_8_orphan_destination_is_a_delivery_failure(self):
        # Counted in albatross_lambda_destination_delivery_failures_total (checked by the Swift test).
        self.assertEqual(invoke_event("orphan", {})["StatusCode"], 202)

    def test_9_dead_letter_config_set_through_the_api_receives_the_failed_event(self):
        created = LAMBDA.create_function(
            FunctionName="api-dlq", Runtime="python3.12", Role="arn:aws:iam::123456789012:role/r",
            Handler="index.handler", Code={"ZipFile": failing_zip()},
            DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:123456789012:api-dlq"},
        )
        self.assertEqual(created["DeadLetterConfig"], {"TargetArn": "arn:aws:sqs:us-east-1:123456789012:api-dlq"})
        got = LAMBDA.get_function_configuration(FunctionName="api-dlq")
        self.assertEqual(got["DeadLetterConfig"]["TargetArn"], "arn:aws:sqs:us-east-1:123456789012:api-dlq")
        LAMBDA.put_function_event_invoke_config(FunctionName="api-dlq", MaximumRetryAttempts=0)
        request_id = invoke_event("api-dlq", {"n": 9})["ResponseMetadata"]["RequestId"]
        message = outbox_line("sqs", "api-dlq", lambda m: m["Attributes"].get("RequestID") == request_id)
        self.assertEqual(json.loads(message["Body"]), {"n": 9})
        self.assertEqual(message["Attributes"]["ErrorMessage"], "fails here")
        # An SNS topic replaces it; an empty TargetArn removes it.
        updated = LAMBDA.update_function_configuration(
            FunctionName="api-dlq", DeadLetterConfig={"TargetArn": "arn:aws:sns:us-east-1:123456789012:api-topic"}
        )
        self.assertEqual(updated["DeadLetterConfig"]["TargetArn"], "arn:aws:sns:us-east-1:123456789012:api-topic")
        cleared = LAMBDA.update_function_configuration(FunctionName="api-dlq", DeadLetterConfig={"TargetArn": ""})
        self.assertNotIn("DeadLetterConfig", cleared)
        self.assertNotIn("DeadLetterConfig", LAMBDA.get_function_configuration(FunctionName="api-dlq"))
        # Only an SQS queue or an SNS topic can be one; a malformed ARN is the model's pattern failing.
        wrong = error_of(lambda: LAMBDA.update_function_configuration(
            FunctionName="api-dlq", DeadLetterConfig={"TargetArn": f"{ARN}:working"}))
        self.assertEqual(wrong["Error"]["Code"], "InvalidParameterValueException")
        malformed = error_of(lambda: LAMBDA.update_function_configuration(
            FunctionName="api-dlq", DeadLetterConfig={"TargetArn": "queue"}))
        self.assertEqual(malformed["Error"]["Code"], "ValidationException")
        self.assertIn("at 'deadLetterConfig.targetArn'", malformed["Error"]["Message"])
        # The YAML's own function keeps its target: the file manages it.
        declared = error_of(lambda: LAMBDA.update_function_configuration(
            FunctionName="failing", DeadLetterConfig={"TargetArn": ""}))
        self.assertEqual(declared["Error"]["Code"], "ResourceConflictException")

    def test_10_delete_function_removes_its_event_invoke_configs_and_dead_letter_target(self):
        LAMBDA.create_function(
            FunctionName="api-gone", Runtime="python3.12", Role="arn:aws:iam::123456789012:role/r",
            Handler="index.handler", Code={"ZipFile": failing_zip()},
            DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:123456789012:gone"},
        )
        version = LAMBDA.publish_version(FunctionName="api-gone")["Version"]
        LAMBDA.put_function_event_invoke_config(FunctionName="api-gone", MaximumRetryAttempts=1)
        LAMBDA.put_function_event_invoke_config(FunctionName="api-gone", Qualifier=version, MaximumRetryAttempts=0)
        LAMBDA.create_alias(FunctionName="api-gone", Name="live", FunctionVersion=version)
        LAMBDA.put_function_event_invoke_config(FunctionName="api-gone", Qualifier="live", MaximumRetryAttempts=0)
        # An alias's configuration goes with the alias, a version's with the version.
        LAMBDA.delete_alias(FunctionName="api-gone", Name="live")
        LAMBDA.create_alias(FunctionName="api-gone", Name="live", FunctionVersion=version)
        missing = error_of(lambda: LAMBDA.get_function_event_invoke_config(FunctionName="api-gone", Qualifier="live"))
        self.assertEqual(missing["Error"]["Code"], "ResourceNotFoundException")
        LAMBDA.delete_alias(FunctionName="api-gone", Name="live")
        LAMBDA.delete_function(FunctionName="api-gone", Qualifier=version)
        listed = LAMBDA.list_function_event_invoke_configs(FunctionName="api-gone")["FunctionEventInvokeConfigs"]
        self.assertEqual([c["FunctionArn"] for c in listed], [f"{ARN}:api-gone:$LATEST"])
        # The whole function: a function made again under the name starts with nothing.
        LAMBDA.delete_function(FunctionName="api-gone")
        LAMBDA.create_function(
            FunctionName="api-gone", Runtime="python3.12", Role="arn:aws:iam::123456789012:role/r",
            Handler="index.handler", Code={"ZipFile": failing_zip()},
        )
        self.assertEqual(
            LAMBDA.list_function_event_invoke_configs(FunctionName="api-gone")["FunctionEventInvokeConfigs"], []
        )
        self.assertNotIn("DeadLetterConfig", LAMBDA.get_function_configuration(FunctionName="api-gone"))
        LAMBDA.delete_function(FunctionName="api-gone")

    def test_11_reserved_concurrency_zero_sends_the_event_to_its_failure_destination_at_once(self):
        LAMBDA.create_function(
            FunctionName="api-zero", Runtime="python3.12", Role="arn:aws:iam::123456789012:role/r",
            Handler="index.handler", Code={"ZipFile": failing_zip()},
            DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:123456789012:zero-dlq"},
        )
        LAMBDA.put_function_event_invoke_config(
            FunctionName="api-zero",
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:zero"}},
        )
        LAMBDA.put_function_concurrency(FunctionName="api-zero", ReservedConcurrentExecutions=0)
        # Synchronously: 429 with its Reason; asynchronously: accepted, never run, not retried.
        throttled = error_of(lambda: LAMBDA.invoke(FunctionName="api-zero", Payload=b"{}"))
        self.assertEqual(throttled["Error"]["Code"], "TooManyRequestsException")
        self.assertEqual(throttled["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded")
        started = time.time()
        response = invoke_event("api-zero", {"n": 11})
        self.assertEqual(response["StatusCode"], 202)
        request_id = response["ResponseMetadata"]["RequestId"]
        message = outbox_line("sqs", "zero", lambda m: json.loads(m["Body"])["requestContext"]["requestId"] == request_id)
        # The first throttle back-off alone is 1 s scaled; no retry schedule at all is far quicker than the
        # 6 hours of maximum age a throttled event would otherwise be retried for.
        self.assertLess(time.time() - started, 10)
        record = json.loads(message["Body"])
        self.assertEqual(record["version"], "1.0")
        self.assertEqual(
            record["requestContext"],
            {
                "requestId": request_id,
                "functionArn": f"{ARN}:api-zero:$LATEST",
                "condition": "ZeroReservedConcurrency",
                "approximateInvokeCount": 0,
            },
        )
        self.assertEqual(record["requestPayload"], {"n": 11})
        self.assertNotIn("responseContext", record)
        self.assertNotIn("responsePayload", record)
        # The dead-letter queue gets the event too, with the throttle's status.
        dead = outbox_line("sqs", "zero-dlq", lambda m: m["Attributes"].get("RequestID") == request_id)
        self.assertEqual(json.loads(dead["Body"]), {"n": 11})
        self.assertEqual(dead["Attributes"]["ErrorCode"], "429")
        # Reserved concurrency removed: the next event runs (and fails, as its code does, after its retries).
        LAMBDA.delete_function_concurrency(FunctionName="api-zero")
        LAMBDA.put_function_event_invoke_config(
            FunctionName="api-zero", MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:zero"}},
        )
        request_id = invoke_event("api-zero", {"n": 12})["ResponseMetadata"]["RequestId"]
        message = outbox_line("sqs", "zero", lambda m: json.loads(m["Body"])["requestContext"]["requestId"] == request_id)
        record = json.loads(message["Body"])
        self.assertEqual(record["requestContext"]["condition"], "RetriesExhausted")
        self.assertEqual(record["requestContext"]["approximateInvokeCount"], 1)
        LAMBDA.delete_function(FunctionName="api-zero")


def failing_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    raise RuntimeError('fails here')\n")
    return buffer.getvalue()


if __name__ == "__main__":
    unittest.main(verbosity=2)
