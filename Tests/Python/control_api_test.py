"""The control API against a running Albatross, with real boto3 and the real AWS CLI (pinned in scripts/setup.sh).

Run by Tests/IntegrationTests/ControlAPIEndToEndTests.swift, which starts the server and sets:
  ALBATROSS_API_ENDPOINT   http://127.0.0.1:<port> (auth: sigv4)
  ALBATROSS_ACCESS_KEY / ALBATROSS_SECRET_KEY   the configured credential
The server declares: `echo` (Python; version 1 and alias `live` → 1), `fn-a`, `fn-b`, `fn-c` (bash, never invoked).
"""
import base64
import datetime
import json
import os
import subprocess
import sys
import unittest
from unittest import mock

import boto3
import botocore.auth
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["ALBATROSS_API_ENDPOINT"]
ACCESS_KEY = os.environ["ALBATROSS_ACCESS_KEY"]
SECRET_KEY = os.environ["ALBATROSS_SECRET_KEY"]
ARN = "arn:aws:lambda:us-east-1:123456789012:function"


def client(access_key=ACCESS_KEY, secret_key=SECRET_KEY, **kwargs):
    return boto3.client(
        "lambda",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
        **kwargs,
    )


LAMBDA = client()


def error_of(call):
    try:
        call()
    except ClientError as error:
        return error.response
    raise AssertionError("the call succeeded")


def aws(*arguments):
    """The AWS CLI (`python -m awscli`), signed with the configured credential; returns (exit code, stdout, stderr)."""
    environment = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    done = subprocess.run(
        [sys.executable, "-m", "awscli", "lambda", *arguments, "--endpoint-url", ENDPOINT, "--output", "json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


class ReadOperations(unittest.TestCase):
    def test_get_function_and_configuration(self):
        response = LAMBDA.get_function(FunctionName="echo")
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(len(response["ResponseMetadata"]["RequestId"]), 36)
        configuration = response["Configuration"]
        self.assertEqual(configuration["FunctionArn"], f"{ARN}:echo")
        self.assertEqual(configuration["Version"], "$LATEST")
        self.assertEqual(configuration["Runtime"], "python3.12")
        self.assertEqual(configuration["Handler"], "index.handler")
        self.assertEqual(configuration["State"], "Active")
        self.assertEqual(configuration["LastUpdateStatus"], "Successful")
        self.assertEqual(len(configuration["CodeSha256"]), 44)
        self.assertEqual(configuration["Environment"]["Variables"], {"GREETING": "hello"})
        self.assertEqual(response["Code"]["RepositoryType"], "S3")
        # Code.Location serves the stored zip without a signature, as a presigned S3 URL would.
        import urllib.request

        with urllib.request.urlopen(response["Code"]["Location"], timeout=10) as download:
            data = download.read()
        self.assertEqual(data[:2], b"PK")
        self.assertEqual(len(data), configuration["CodeSize"])

        by_arn = LAMBDA.get_function_configuration(FunctionName=f"{ARN}:echo:live")
        self.assertEqual(by_arn["FunctionArn"], f"{ARN}:echo:live")
        self.assertEqual(by_arn["Version"], "1")
        latest = LAMBDA.get_function_configuration(FunctionName="echo", Qualifier="$LATEST")
        self.assertEqual(latest["FunctionArn"], f"{ARN}:echo:$LATEST")

    def test_waiters_succeed_at_once(self):
        LAMBDA.get_waiter("function_active_v2").wait(FunctionName="echo", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
        LAMBDA.get_waiter("function_updated_v2").wait(FunctionName="echo", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
        LAMBDA.get_waiter("published_version_active").wait(
            FunctionName="echo", Qualifier="1", WaiterConfig={"Delay": 1, "MaxAttempts": 2}
        )

    def test_list_functions_pages(self):
        first = LAMBDA.list_functions(MaxItems=2)
        self.assertEqual([f["FunctionName"] for f in first["Functions"]], ["echo", "fn-a"])
        self.assertIn("NextMarker", first)
        self.assertNotIn("State", first["Functions"][0])
        names = []
        for page in LAMBDA.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 3}):
            names += [f["FunctionName"] for f in page["Functions"]]
        self.assertEqual(names, ["echo", "fn-a", "fn-b", "fn-c"])
        everything = LAMBDA.list_functions(FunctionVersion="ALL")["Functions"]
        self.assertEqual(
            [f["FunctionArn"] for f in everything if f["FunctionName"] == "echo"], [f"{ARN}:echo:$LATEST", f"{ARN}:echo:1"]
        )

    def test_versions_and_aliases(self):
        versions = LAMBDA.list_versions_by_function(FunctionName="echo")["Versions"]
        self.assertEqual([v["Version"] for v in versions], ["$LATEST", "1"])
        pages = list(LAMBDA.get_paginator("list_versions_by_function").paginate(
            FunctionName="echo", PaginationConfig={"PageSize": 1}))
        self.assertEqual(len(pages), 2)
        alias = LAMBDA.get_alias(FunctionName="echo", Name="live")
        self.assertEqual(alias["AliasArn"], f"{ARN}:echo:live")
        self.assertEqual(alias["FunctionVersion"], "1")
        self.assertEqual(alias["Description"], "")
        self.assertEqual([a["Name"] for a in LAMBDA.list_aliases(FunctionName="echo")["Aliases"]], ["live"])
        self.assertEqual(LAMBDA.list_aliases(FunctionName="echo", FunctionVersion="7")["Aliases"], [])

    def test_account_settings(self):
        settings = LAMBDA.get_account_settings()
        self.assertEqual(settings["AccountLimit"]["ConcurrentExecutions"], 1000)
        self.assertEqual(settings["AccountUsage"]["FunctionCount"], 4)

    def test_errors(self):
        missing = error_of(lambda: LAMBDA.get_function(FunctionName="missing"))
        self.assertEqual(missing["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(missing["Error"]["Message"], f"Function not found: {ARN}:missing")
        self.assertEqual(missing["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.assertEqual(missing["Type"], "User")
        with self.assertRaises(LAMBDA.exceptions.ResourceNotFoundException):
            LAMBDA.get_function(FunctionName="echo", Qualifier="9")
        alias = error_of(lambda: LAMBDA.get_alias(FunctionName="echo", Name="dark"))
        self.assertEqual(alias["Error"]["Message"], f"Cannot find alias arn: {ARN}:echo:dark")
        mismatch = error_of(lambda: LAMBDA.get_function(FunctionName="echo:live", Qualifier="1"))
        self.assertEqual(mismatch["Error"]["Code"], "InvalidParameterValueException")
        self.assertEqual(
            mismatch["Error"]["Message"],
            "The derived qualifier from the function name does not match the specified qualifier.",
        )
        region = error_of(lambda: LAMBDA.get_function(FunctionName="arn:aws:lambda:eu-west-1:123456789012:function:echo"))
        self.assertEqual(region["Error"]["Message"], "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')")
        invalid = error_of(lambda: LAMBDA.list_functions(FunctionVersion="SOME"))
        self.assertEqual(invalid["Error"]["Code"], "ValidationException")
        self.assertIn("Member must satisfy enum value set: [ALL]", invalid["Error"]["Message"])


class Invoke(unittest.TestCase):
    def test_request_response(self):
        response = LAMBDA.invoke(FunctionName="echo", Payload=b'{"x": 1}')
        self.assertEqual(response["StatusCode"], 200)
        self.assertEqual(response["ExecutedVersion"], "$LATEST")
        self.assertNotIn("FunctionError", response)
        self.assertNotIn("LogResult", response)
        body = json.loads(response["Payload"].read())
        self.assertEqual(body["event"], {"x": 1})
        self.assertEqual(body["greeting"], "hello")
        self.assertEqual(body["version"], "$LATEST")
        self.assertEqual(body["arn"], f"{ARN}:echo")
        self.assertEqual(body["request_id"], response["ResponseMetadata"]["RequestId"])

    def test_qualifiers_and_client_context(self):
        context = base64.b64encode(json.dumps({"custom": {"a": 1}}).encode()).decode()
        response = LAMBDA.invoke(FunctionName="echo", Qualifier="live", Payload=b"{}", ClientContext=context)
        self.assertEqual(response["ExecutedVersion"], "1")
        body = json.loads(response["Payload"].read())
        self.assertEqual(body["arn"], f"{ARN}:echo:live")
        self.assertEqual(body["client_context"], {"a": 1})
        by_arn = LAMBDA.invoke(FunctionName=f"{ARN}:echo:1")
        self.assertEqual(by_arn["ExecutedVersion"], "1")
        self.assertEqual(json.loads(by_arn["Payload"].read())["event"], {})

    def test_tail_logs(self):
        response = LAMBDA.invoke(FunctionName="echo", LogType="Tail", Payload=b'{"lines": 3}')
        log = base64.b64decode(response["LogResult"]).decode()
        self.assertTrue(log.startswith("START RequestId: "), log)
        self.assertIn("Version: $LATEST", log)
        self.assertIn("line 2 of 3", log)
        self.assertIn("END RequestId: ", log)
        self.assertIn("REPORT RequestId: ", log)
        long = LAMBDA.invoke(FunctionName="echo", LogType="Tail", Payload=b'{"lines": 400}')
        tail = base64.b64decode(long["LogResult"])
        self.assertEqual(len(tail), 4096)
        self.assertIn(b"line 399 of 400", tail)
        self.assertNotIn(b"START RequestId", tail)
        self.assertIn(b"REPORT RequestId", tail)

    def test_function_error(self):
        response = LAMBDA.invoke(FunctionName="echo", Payload=b'{"fail": true}')
        self.assertEqual(response["StatusCode"], 200)
        self.assertEqual(response["FunctionError"], "Unhandled")
        body = json.loads(response["Payload"].read())
        self.assertEqual(body["errorType"], "ValueError")
        self.assertEqual(body["errorMessage"], "asked to fail")

    def test_dry_run(self):
        response = LAMBDA.invoke(FunctionName="echo", InvocationType="DryRun")
        self.assertEqual(response["StatusCode"], 204)
        self.assertNotIn("ExecutedVersion", response)
        missing = error_of(lambda: LAMBDA.invoke(FunctionName="echo", Qualifier="dark", InvocationType="DryRun"))
        self.assertEqual(missing["Error"]["Message"], f"Function not found: {ARN}:echo:dark")

    def test_invoke_errors(self):
        missing = error_of(lambda: LAMBDA.invoke(FunctionName="missing"))
        self.assertEqual(missing["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(missing["Error"]["Message"], f"Function not found: {ARN}:missing:$LATEST")
        version = error_of(lambda: LAMBDA.invoke(FunctionName="echo", Qualifier="9"))
        self.assertEqual(version["Error"]["Message"], f"Function not found: {ARN}:echo:9")
        bad = error_of(lambda: LAMBDA.invoke(FunctionName="echo", Payload=b"{not json"))
        self.assertEqual(bad["Error"]["Code"], "InvalidRequestContentException")
        self.assertTrue(bad["Error"]["Message"].startswith("Could not parse request body into json: "))
        large = error_of(lambda: LAMBDA.invoke(FunctionName="echo", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"'))
        self.assertEqual(large["ResponseMetadata"]["HTTPStatusCode"], 413)
        self.assertEqual(large["Error"]["Code"], "RequestEntityTooLargeException")
        self.assertEqual(
            large["Error"]["Message"], "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
        )
        # Exactly at the limit is accepted.
        at_limit = LAMBDA.invoke(FunctionName="echo", Payload=b'{"pad":"' + b"x" * (6 * 1024 * 1024 - 10) + b'"}')
        self.assertEqual(at_limit["StatusCode"], 200)

    def test_unsigned_request_is_refused(self):
        import urllib.error
        import urllib.request

        request = urllib.request.Request(ENDPOINT + "/2015-03-31/functions/echo/invocations", data=b"{}", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)
        self.assertEqual(raised.exception.code, 403)
        self.assertEqual(raised.exception.headers["x-amzn-ErrorType"], "MissingAuthenticationTokenException")
        self.assertEqual(json.loads(raised.exception.read()), {"message": "Missing Authentication Token"})


class Signatures(unittest.TestCase):
    def test_wrong_access_key(self):
        error = error_of(lambda: client(access_key="AKIDUNKNOWN").get_function(FunctionName="echo"))
        self.assertEqual(error["Error"]["Code"], "UnrecognizedClientException")
        self.assertEqual(error["Error"]["Message"], "The security token included in the request is invalid.")
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 403)

    def test_wrong_secret(self):
        error = error_of(lambda: client(secret_key="not-the-secret").invoke(FunctionName="echo"))
        self.assertEqual(error["Error"]["Code"], "InvalidSignatureException")
        self.assertTrue(
            error["Error"]["Message"].startswith(
                "The request signature we calculated does not match the signature you provided."
            )
        )

    def test_session_token_not_configured(self):
        error = error_of(lambda: client(aws_session_token="token").get_function(FunctionName="echo"))
        self.assertEqual(error["Error"]["Code"], "UnrecognizedClientException")

    def test_clock_skew(self):
        skewed = datetime.datetime.utcnow() - datetime.timedelta(minutes=6)
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=skewed):
            error = error_of(lambda: LAMBDA.get_function(FunctionName="echo"))
        self.assertEqual(error["Error"]["Code"], "InvalidSignatureException")
        self.assertTrue(error["Error"]["Message"].startswith("Signature expired: "), error["Error"]["Message"])
        self.assertIn(" - 5 min.)", error["Error"]["Message"])
        ahead = datetime.datetime.utcnow() + datetime.timedelta(minutes=4)
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=ahead):
            self.assertEqual(LAMBDA.get_function(FunctionName="echo")["Configuration"]["FunctionName"], "echo")


class AWSCLI(unittest.TestCase):
    def test_get_function(self):
        code, out, err = aws("get-function", "--function-name", "echo")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["Configuration"]["FunctionArn"], f"{ARN}:echo")

    def test_list_and_alias(self):
        code, out, err = aws("list-functions", "--max-items", "2")
        self.assertEqual(code, 0, err)
        listed = json.loads(out)
        self.assertEqual(len(listed["Functions"]), 2)
        self.assertIn("NextToken", listed)
        code, out, err = aws("get-alias", "--function-name", "echo", "--name", "live")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["FunctionVersion"], "1")

    def test_invoke_with_tail(self):
        outfile = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"albatross-cli-{os.getpid()}.json")
        try:
            code, out, err = aws(
                "invoke", "--function-name", "echo", "--qualifier", "live", "--log-type", "Tail",
                "--payload", '{"lines": 1}', outfile,
            )
            self.assertEqual(code, 0, err)
            printed = json.loads(out)
            self.assertEqual(printed["StatusCode"], 200)
            self.assertEqual(printed["ExecutedVersion"], "1")
            self.assertIn("line 0 of 1", base64.b64decode(printed["LogResult"]).decode())
            with open(outfile) as result:
                self.assertEqual(json.load(result)["event"], {"lines": 1})
        finally:
            if os.path.exists(outfile):
                os.remove(outfile)

    def test_errors_exit_255(self):
        code, _, err = aws("get-function", "--function-name", "missing")
        self.assertEqual(code, 255)
        self.assertIn("ResourceNotFoundException", err)
        self.assertIn(f"Function not found: {ARN}:missing", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
