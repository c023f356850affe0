"""The control API's write operations against a running Albatross, with real boto3 and the real AWS CLI.

Run by Tests/IntegrationTests/ControlAPIEndToEndTests.swift, which starts the server and sets:
  ALBATROSS_API_ENDPOINT   http://127.0.0.1:<port> (auth: sigv4)
  ALBATROSS_ACCESS_KEY / ALBATROSS_SECRET_KEY   the configured credential
The server's configuration declares `echo` (version 1, alias `live`); every other function is made here.
With ALBATROSS_MEASURE=1 it also prints the time from UpdateFunctionCode returning to the first invoke that runs
the new code (bench/README.md).
"""
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import zipfile

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["ALBATROSS_API_ENDPOINT"]
ACCESS_KEY = os.environ["ALBATROSS_ACCESS_KEY"]
SECRET_KEY = os.environ["ALBATROSS_SECRET_KEY"]
ARN = "arn:aws:lambda:us-east-1:123456789012:function"
ROLE = "arn:aws:iam::123456789012:role/service-role/test"


def client(**config):
    return boto3.client(
        "lambda",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}, read_timeout=60, **config),
    )


LAMBDA = client()
UNVALIDATED = client(parameter_validation=False)


def error_of(call):
    try:
        call()
    except ClientError as error:
        return error.response
    raise AssertionError("the call succeeded")


def handler_source(tag):
    return (
        "import os, time\n"
        "def handler(event, context):\n"
        "    time.sleep(event.get('sleep', 0))\n"
        f"    return {{'tag': {tag!r}, 'version': context.function_version,"
        " 'env': os.environ.get('SETTING'), 'memory': context.memory_limit_in_mb}\n"
    )


def make_zip(files, links=None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            # A fixed time, so that the same files make the same bytes (a download is compared with its upload).
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, content)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return buffer.getvalue()


def code(tag):
    return make_zip({"index.py": handler_source(tag)})


def create(name, tag="v1", **extra):
    arguments = dict(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler", Code={"ZipFile": code(tag)},
        Timeout=20,
    )
    arguments.update(extra)
    return LAMBDA.create_function(**arguments)


def invoke(name, qualifier=None, payload=b"{}"):
    arguments = dict(FunctionName=name, Payload=payload)
    if qualifier:
        arguments["Qualifier"] = qualifier
    response = LAMBDA.invoke(**arguments)
    return response, json.loads(response["Payload"].read())


def function_missing(name):
    with unittest.TestCase().assertRaises(LAMBDA.exceptions.ResourceNotFoundException):
        LAMBDA.get_function(FunctionName=name)
    return True


def raw(method, path, body):
    """A request signed as botocore signs, with a body botocore would never send."""
    request = botocore.awsrequest.AWSRequest(
        method=method, url=ENDPOINT + path, data=body, headers={"Content-Type": "application/json"}
    )
    credentials = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    botocore.auth.SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(
        ENDPOINT + path, data=body, method=method, headers=dict(request.headers.items())
    )
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def aws(*arguments):
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
        capture_output=True, text=True, env=environment, timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


class Lifecycle(unittest.TestCase):
    def test_create_invoke_update_publish_alias_weights_delete(self):
        created = create("life", Environment={"Variables": {"SETTING": "one"}}, Tags={"team": "a"})
        self.assertEqual(created["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(created["FunctionArn"], f"{ARN}:life")
        self.assertEqual(created["Version"], "$LATEST")
        self.assertEqual(created["State"], "Pending")
        self.assertEqual(created["StateReasonCode"], "Creating")
        self.assertNotIn("LastUpdateStatus", created)
        self.assertEqual(created["TracingConfig"], {"Mode": "PassThrough"})
        self.assertEqual(created["Role"], ROLE)
        self.assertEqual(len(created["CodeSha256"]), 44)
        LAMBDA.get_waiter("function_active_v2").wait(FunctionName="life", WaiterConfig={"Delay": 1, "MaxAttempts": 3})
        got = LAMBDA.get_function(FunctionName="life")
        self.assertEqual(got["Configuration"]["State"], "Active")
        self.assertEqual(got["Tags"], {"team": "a"})
        with urllib.request.urlopen(got["Code"]["Location"], timeout=10) as download:
            self.assertEqual(download.read(), code("v1"))

        response, body = invoke("life")
        self.assertEqual(response["ExecutedVersion"], "$LATEST")
        self.assertEqual(body["tag"], "v1")
        self.assertEqual(body["env"], "one")

        first = LAMBDA.publish_version(FunctionName="life", Description="first")
        self.assertEqual(first["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(first["Version"], "1")
        self.assertEqual(first["FunctionArn"], f"{ARN}:life:1")
        self.assertEqual(first["Description"], "first")
        self.assertEqual(first["Role"], ROLE)
        LAMBDA.get_waiter("published_version_active").wait(
            FunctionName="life", Qualifier="1", WaiterConfig={"Delay": 1, "MaxAttempts": 3}
        )
        # Nothing changed: the same version again, as AWS answers.
        self.assertEqual(LAMBDA.publish_version(FunctionName="life")["Version"], "1")

        updated = LAMBDA.update_function_code(FunctionName="life", ZipFile=code("v2"))
        self.assertEqual(updated["LastUpdateStatus"], "InProgress")
        self.assertEqual(updated["State"], "Active")
        self.assertNotEqual(updated["CodeSha256"], created["CodeSha256"])
        # The very next invoke runs the new code: the write answered after the server installed it.
        self.assertEqual(invoke("life")[1]["tag"], "v2")
        LAMBDA.get_waiter("function_updated_v2").wait(FunctionName="life", WaiterConfig={"Delay": 1, "MaxAttempts": 3})
        self.assertEqual(LAMBDA.get_function(FunctionName="life")["Configuration"]["LastUpdateStatus"], "Successful")
        second = LAMBDA.publish_version(FunctionName="life", CodeSha256=updated["CodeSha256"])
        self.assertEqual(second["Version"], "2")
        self.assertEqual(invoke("life", "1")[1]["tag"], "v1")
        self.assertEqual(invoke("life", "2")[1]["tag"], "v2")

        alias = LAMBDA.create_alias(
            FunctionName="life", Name="live", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
        )
        self.assertEqual(alias["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(alias["AliasArn"], f"{ARN}:life:live")
        self.assertEqual(alias["RoutingConfig"], {"AdditionalVersionWeights": {"2": 0.3}})
        counts = {}
        for _ in range(1000):
            response, body = invoke("life", "live")
            executed = response["ExecutedVersion"]
            self.assertEqual(body["version"], executed)
            counts[executed] = counts.get(executed, 0) + 1
        self.assertEqual(set(counts), {"1", "2"}, counts)
        # 1,000 draws at 0.3: the mean is 300 and the standard deviation 14.5; ±5 of them.
        self.assertTrue(227 <= counts["2"] <= 373, counts)
        print(f"\n1000 invokes of life:live (weight 0.3 on 2): {counts}", file=sys.stderr)

        moved = LAMBDA.update_alias(
            FunctionName="life", Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}},
            RevisionId=alias["RevisionId"],
        )
        self.assertEqual(moved["FunctionVersion"], "2")
        self.assertNotIn("RoutingConfig", moved)
        self.assertNotEqual(moved["RevisionId"], alias["RevisionId"])
        for _ in range(50):
            self.assertEqual(invoke("life", "live")[0]["ExecutedVersion"], "2")

        stale = error_of(lambda: LAMBDA.update_alias(FunctionName="life", Name="live", RevisionId=alias["RevisionId"]))
        self.assertEqual(stale["Error"]["Code"], "PreconditionFailedException")
        self.assertEqual(stale["ResponseMetadata"]["HTTPStatusCode"], 412)

        # Version 2 is behind the alias; version 1 no longer is.
        behind = error_of(lambda: LAMBDA.delete_function(FunctionName="life", Qualifier="2"))
        self.assertEqual(behind["Error"]["Code"], "ResourceConflictException")
        self.assertIn("[live]", behind["Error"]["Message"])
        self.assertEqual(LAMBDA.delete_function(FunctionName="life", Qualifier="1")["StatusCode"], 204)
        self.assertEqual(
            [v["Version"] for v in LAMBDA.list_versions_by_function(FunctionName="life")["Versions"]], ["$LATEST", "2"]
        )
        latest = error_of(lambda: LAMBDA.delete_function(FunctionName="life", Qualifier="$LATEST"))
        self.assertEqual(latest["Error"]["Message"], "$LATEST version cannot be deleted without deleting the function.")

        self.assertEqual(LAMBDA.delete_alias(FunctionName="life", Name="live")["ResponseMetadata"]["HTTPStatusCode"], 204)
        # Deleting an alias that is gone is not an error.
        LAMBDA.delete_alias(FunctionName="life", Name="live")
        self.assertEqual(LAMBDA.delete_function(FunctionName="life")["StatusCode"], 204)
        self.assertTrue(function_missing("life"))
        gone = error_of(lambda: LAMBDA.invoke(FunctionName="life"))
        self.assertEqual(gone["Error"]["Code"], "ResourceNotFoundException")
        again = error_of(lambda: LAMBDA.delete_function(FunctionName="life"))
        self.assertEqual(again["Error"]["Message"], f"Function not found: {ARN}:life")

    def test_publish_with_code_update_and_preconditions(self):
        create("pub")
        published = LAMBDA.update_function_code(FunctionName="pub", ZipFile=code("v2"), Publish=True)
        self.assertEqual(published["Version"], "1")
        self.assertEqual(published["FunctionArn"], f"{ARN}:pub:1")
        self.assertEqual(published["State"], "Pending")
        LAMBDA.get_waiter("published_version_active").wait(
            FunctionName="pub", Qualifier="1", WaiterConfig={"Delay": 1, "MaxAttempts": 3}
        )
        self.assertEqual(invoke("pub", "1")[1]["tag"], "v2")
        LAMBDA.update_function_code(FunctionName="pub", ZipFile=code("v3"))
        sha = error_of(lambda: LAMBDA.publish_version(FunctionName="pub", CodeSha256="abc="))
        self.assertEqual(sha["Error"]["Code"], "InvalidParameterValueException")
        self.assertTrue(sha["Error"]["Message"].startswith("CodeSHA256 (abc=) is different from current CodeSHA256 in $LATEST ("))
        revision = error_of(lambda: LAMBDA.publish_version(FunctionName="pub", RevisionId="nope"))
        self.assertEqual(revision["Error"]["Code"], "PreconditionFailedException")
        self.assertEqual(
            revision["Error"]["Message"],
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )
        code_revision = error_of(lambda: LAMBDA.update_function_code(FunctionName="pub", ZipFile=code("v4"), RevisionId="x"))
        self.assertEqual(code_revision["ResponseMetadata"]["HTTPStatusCode"], 412)
        self.assertEqual(invoke("pub")[1]["tag"], "v3")
        # DryRun checks the package and changes nothing.
        dry = LAMBDA.update_function_code(FunctionName="pub", ZipFile=code("v5"), DryRun=True)
        self.assertEqual(dry["CodeSha256"], base64.b64encode(__import__("hashlib").sha256(code("v5")).digest()).decode())
        self.assertEqual(invoke("pub")[1]["tag"], "v3")
        created = LAMBDA.create_function(
            FunctionName="pub-on-create", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"ZipFile": code("c")}, Publish=True,
        )
        self.assertEqual(created["Version"], "1")
        self.assertEqual(created["FunctionArn"], f"{ARN}:pub-on-create")
        self.assertEqual(invoke("pub-on-create", "1")[1]["tag"], "c")


class LocalDirectory(unittest.TestCase):
    def test_code_from_a_local_directory(self):
        directory = tempfile.mkdtemp(prefix="local-code-")
        with open(os.path.join(directory, "index.py"), "w") as source:
            source.write(handler_source("dir-1"))
        location = {"S3Bucket": "albatross-local", "S3Key": directory}
        created = LAMBDA.create_function(
            FunctionName="from-dir", Runtime="python3.12", Role=ROLE, Handler="index.handler", Code=location,
        )
        self.assertEqual(created["State"], "Pending")
        self.assertEqual(invoke("from-dir")[1]["tag"], "dir-1")
        with open(os.path.join(directory, "index.py"), "w") as source:
            source.write(handler_source("dir-2"))
        # Packed when the call is made: an edit is picked up by calling UpdateFunctionCode again.
        self.assertEqual(invoke("from-dir")[1]["tag"], "dir-1")
        updated = LAMBDA.update_function_code(FunctionName="from-dir", S3Bucket="albatross-local", S3Key=directory)
        self.assertNotEqual(updated["CodeSha256"], created["CodeSha256"])
        self.assertEqual(invoke("from-dir")[1]["tag"], "dir-2")
        status, out, err = aws(
            "create-function", "--function-name", "from-dir-cli", "--runtime", "python3.12", "--role", ROLE,
            "--handler", "index.handler", "--code", f"S3Bucket=albatross-local,S3Key={directory}",
        )
        self.assertEqual(status, 0, err)
        self.assertEqual(json.loads(out)["CodeSha256"], updated["CodeSha256"])
        relative = error_of(lambda: LAMBDA.create_function(
            FunctionName="from-dir-2", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"S3Bucket": "albatross-local", "S3Key": "relative/dir"},
        ))
        self.assertEqual(relative["Error"]["Code"], "InvalidParameterValueException")
        missing = error_of(lambda: LAMBDA.create_function(
            FunctionName="from-dir-2", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"S3Bucket": "albatross-local", "S3Key": directory + "/none"},
        ))
        self.assertIn("is not a directory", missing["Error"]["Message"])
        self.assertTrue(function_missing("from-dir-2"))


class InFlight(unittest.TestCase):
    def test_an_invoke_in_flight_finishes_on_the_code_it_started_with(self):
        import threading

        create("inflight")
        results = {}

        def slow():
            results["slow"] = invoke("inflight", payload=b'{"sleep": 3}')[1]

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(1)
        LAMBDA.update_function_code(FunctionName="inflight", ZipFile=code("v2"))
        # The new code answers at once (a new environment), while the old one finishes its invoke.
        self.assertEqual(invoke("inflight")[1]["tag"], "v2")
        thread.join(timeout=30)
        self.assertEqual(results["slow"]["tag"], "v1")


class Configuration(unittest.TestCase):
    def test_update_configuration_applies_to_the_next_invoke(self):
        create("conf", Environment={"Variables": {"SETTING": "before"}})
        self.assertEqual(invoke("conf")[1]["env"], "before")
        revision = LAMBDA.get_function_configuration(FunctionName="conf")["RevisionId"]
        updated = LAMBDA.update_function_configuration(
            FunctionName="conf", Environment={"Variables": {"SETTING": "after"}}, MemorySize=256, Timeout=30,
            Description="changed", RevisionId=revision,
            LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"},
        )
        self.assertEqual(updated["LastUpdateStatus"], "InProgress")
        self.assertEqual(updated["MemorySize"], 256)
        self.assertEqual(updated["Timeout"], 30)
        self.assertEqual(updated["Description"], "changed")
        self.assertEqual(updated["LoggingConfig"]["LogFormat"], "JSON")
        self.assertEqual(updated["LoggingConfig"]["ApplicationLogLevel"], "DEBUG")
        self.assertNotEqual(updated["RevisionId"], revision)
        body = invoke("conf")[1]
        self.assertEqual((body["env"], body["memory"]), ("after", "256"))
        stale = error_of(lambda: LAMBDA.update_function_configuration(FunctionName="conf", Timeout=5, RevisionId=revision))
        self.assertEqual(stale["Error"]["Code"], "PreconditionFailedException")
        self.assertEqual(LAMBDA.get_function_configuration(FunctionName="conf")["Timeout"], 30)
        # A no-op update still gets a new RevisionId, as on AWS.
        again = LAMBDA.update_function_configuration(FunctionName="conf")
        self.assertNotEqual(again["RevisionId"], updated["RevisionId"])
        cleared = LAMBDA.update_function_configuration(FunctionName="conf", Environment={"Variables": {}}, Handler="index.handler")
        self.assertNotIn("Environment", cleared)
        self.assertIsNone(invoke("conf")[1]["env"])
        # The execution role is stored as given and kept by a published version; a change of role alone is a
        # change of configuration, so it publishes a new version.
        self.assertEqual(cleared["Role"], ROLE)
        first = LAMBDA.publish_version(FunctionName="conf")["Version"]
        other = "arn:aws:iam::123456789012:role/other"
        self.assertEqual(LAMBDA.update_function_configuration(FunctionName="conf", Role=other)["Role"], other)
        self.assertEqual(LAMBDA.get_function_configuration(FunctionName="conf")["Role"], other)
        second = LAMBDA.publish_version(FunctionName="conf")
        self.assertNotEqual(second["Version"], first)
        self.assertEqual(second["Role"], other)
        self.assertEqual(LAMBDA.get_function_configuration(FunctionName="conf", Qualifier=first)["Role"], ROLE)

    def test_seed_example_with_the_cli(self):
        path = os.path.join(tempfile.gettempdir(), "seed-function.zip")
        with open(path, "wb") as archive:
            archive.write(code("seed"))
        status, out, err = aws(
            "create-function", "--function-name", "my-function", "--runtime", "python3.12", "--role", ROLE,
            "--handler", "index.handler", "--zip-file", f"fileb://{path}",
        )
        self.assertEqual(status, 0, err)
        self.assertEqual(json.loads(out)["State"], "Pending")
        status, _, err = aws("wait", "function-active-v2", "--function-name", "my-function")
        self.assertEqual(status, 0, err)
        status, out, err = aws("update-function-configuration", "--function-name", "my-function", "--tracing-config", "Mode=Active")
        self.assertEqual(status, 0, err)
        self.assertEqual(json.loads(out)["TracingConfig"], {"Mode": "Active"})
        status, _, err = aws("wait", "function-updated-v2", "--function-name", "my-function")
        self.assertEqual(status, 0, err)
        self.assertEqual(LAMBDA.get_function_configuration(FunctionName="my-function")["TracingConfig"], {"Mode": "Active"})
        self.assertEqual(invoke("my-function")[1]["tag"], "seed")
        status, out, err = aws("publish-version", "--function-name", "my-function")
        self.assertEqual((status, json.loads(out)["Version"]), (0, "1"), err)
        status, out, err = aws("create-alias", "--function-name", "my-function", "--name", "prod", "--function-version", "1")
        self.assertEqual(status, 0, err)
        status, _, err = aws("delete-function", "--function-name", "my-function")
        self.assertEqual(status, 0, err)


class Errors(unittest.TestCase):
    def assertNothingStored(self, name):
        self.assertTrue(function_missing(name))
        self.assertNotIn(name, [f["FunctionName"] for f in LAMBDA.list_functions()["Functions"]])

    def test_validation(self):
        long = error_of(lambda: create("f" * 65))
        self.assertEqual(long["Error"]["Code"], "InvalidParameterValueException")
        self.assertIn("Member must have length less than or equal to 64", long["Error"]["Message"])
        role = error_of(lambda: create("bad-role", Role="r1"))
        self.assertEqual(role["Error"]["Code"], "ValidationException")
        self.assertEqual(
            role["Error"]["Message"],
            "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy "
            r"regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+",
        )
        runtime = error_of(lambda: create("bad-runtime", Runtime="PYTHON3.9"))
        self.assertEqual(runtime["Error"]["Code"], "InvalidParameterValueException")
        self.assertTrue(runtime["Error"]["Message"].startswith("Value PYTHON3.9 at 'runtime' failed to satisfy constraint"))
        memory = error_of(lambda: create("bad-memory", MemorySize=50000))
        self.assertEqual(memory["Error"]["Code"], "ValidationException")
        self.assertEqual(
            memory["Error"]["Message"],
            "1 validation error detected: Value '50000' at 'memorySize' failed to satisfy constraint: "
            "Member must have value less than or equal to 10240",
        )
        pattern = error_of(lambda: create("bad name!"))
        self.assertEqual(pattern["Error"]["Code"], "ValidationException")
        large_env = error_of(lambda: create("bad-env", Environment={"Variables": {"BIG": "x" * 5000}}))
        self.assertEqual(large_env["Error"]["Code"], "InvalidParameterValueException")
        self.assertIn("exceeded the 4KB limit", large_env["Error"]["Message"])
        layer = error_of(lambda: create("bad-layer", Layers=[f"arn:aws:lambda:us-east-1:123456789012:layer:none:1"]))
        self.assertEqual(
            layer["Error"]["Message"], "Layer version arn:aws:lambda:us-east-1:123456789012:layer:none:1 does not exist."
        )
        tracing = error_of(lambda: UNVALIDATED.create_function(
            FunctionName="bad-tracing", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"ZipFile": code("x")}, TracingConfig={"Mode": "Sometimes"},
        ))
        self.assertEqual(tracing["Error"]["Code"], "ValidationException")
        for name in ["bad-role", "bad-runtime", "bad-memory", "bad-env", "bad-layer", "bad-tracing"]:
            self.assertNothingStored(name)
        create("dup")
        duplicate = error_of(lambda: create("dup"))
        self.assertEqual(duplicate["Error"]["Code"], "ResourceConflictException")
        self.assertEqual(duplicate["Error"]["Message"], "Function already exist: dup")
        self.assertEqual(duplicate["ResponseMetadata"]["HTTPStatusCode"], 409)

    def test_malformed_json_and_unknown_fields(self):
        status, headers, body = raw("POST", "/2015-03-31/functions", b'{"FunctionName": "raw",')
        self.assertEqual(status, 400)
        self.assertEqual(headers["x-amzn-ErrorType"], "InvalidRequestContentException")
        self.assertTrue(json.loads(body)["message"].startswith("Could not parse request body into json: "))
        zipped = base64.b64encode(code("raw")).decode()
        document = {
            "FunctionName": "raw", "Runtime": "python3.12", "Role": ROLE, "Handler": "index.handler",
            "Code": {"ZipFile": zipped}, "Colour": "blue",
        }
        status, headers, body = raw("POST", "/2015-03-31/functions", json.dumps(document).encode())
        self.assertEqual(status, 400)
        self.assertEqual(headers["x-amzn-ErrorType"], "InvalidRequestContentException")
        self.assertIn('Unrecognized field "Colour"', json.loads(body)["message"])
        del document["Colour"]
        document["Code"]["Bucket"] = "b"
        status, _, body = raw("POST", "/2015-03-31/functions", json.dumps(document).encode())
        self.assertEqual(status, 400)
        self.assertIn('Unrecognized field "Code.Bucket"', json.loads(body)["message"])
        del document["Code"]["Bucket"]
        document["Timeout"] = "ten"
        status, headers, _ = raw("POST", "/2015-03-31/functions", json.dumps(document).encode())
        self.assertEqual((status, headers["x-amzn-ErrorType"]), (400, "InvalidRequestContentException"))
        self.assertNothingStored("raw")
        vpc = error_of(lambda: create("vpc", VpcConfig={"SubnetIds": ["s"]}))
        self.assertEqual(vpc["Error"]["Code"], "InvalidParameterValueException")
        self.assertNothingStored("vpc")
        s3 = error_of(lambda: LAMBDA.create_function(
            FunctionName="s3", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"S3Bucket": "my-bucket", "S3Key": "function.zip"},
        ))
        self.assertEqual(s3["Error"]["Code"], "InvalidParameterValueException")

    def test_hostile_zips(self):
        unzip = "Could not unzip uploaded file. Please check your file, then try to upload again."
        escape = error_of(lambda: LAMBDA.create_function(
            FunctionName="escape", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"ZipFile": make_zip({"index.py": "x", "../outside.py": "x"})},
        ))
        self.assertEqual(escape["Error"]["Code"], "InvalidParameterValueException")
        self.assertTrue(escape["Error"]["Message"].startswith(unzip), escape["Error"]["Message"])
        link = error_of(lambda: LAMBDA.create_function(
            FunctionName="link", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"ZipFile": make_zip({"index.py": "x"}, links={"passwd": "/etc/passwd"})},
        ))
        self.assertTrue(link["Error"]["Message"].startswith(unzip), link["Error"]["Message"])
        not_zip = error_of(lambda: LAMBDA.create_function(
            FunctionName="notzip", Runtime="python3.12", Role=ROLE, Handler="index.handler", Code={"ZipFile": b"hello"},
        ))
        self.assertTrue(not_zip["Error"]["Message"].startswith(unzip))
        # 300 MB of zeros in about 300 KB.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open("zeros.bin", "w", force_zip64=False) as entry:
                block = b"\0" * (1 << 20)
                for _ in range(300):
                    entry.write(block)
        bomb = error_of(lambda: LAMBDA.create_function(
            FunctionName="bomb", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"ZipFile": buffer.getvalue()},
        ))
        self.assertEqual(bomb["Error"]["Code"], "InvalidParameterValueException")
        self.assertEqual(bomb["Error"]["Message"], "Unzipped size must be smaller than 262144000 bytes")
        for name in ["escape", "link", "notzip", "bomb"]:
            self.assertNothingStored(name)
        create("victim")
        hostile = error_of(lambda: LAMBDA.update_function_code(FunctionName="victim", ZipFile=make_zip({"../x": "x"})))
        self.assertTrue(hostile["Error"]["Message"].startswith(unzip))
        self.assertEqual(invoke("victim")[1]["tag"], "v1")

    def test_alias_errors(self):
        create("aliased")
        LAMBDA.publish_version(FunctionName="aliased")
        LAMBDA.update_function_code(FunctionName="aliased", ZipFile=code("v2"))
        LAMBDA.publish_version(FunctionName="aliased")
        two = error_of(lambda: LAMBDA.create_alias(
            FunctionName="aliased", Name="a", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}},
        ))
        self.assertEqual(two["Error"]["Message"], "Number of items in AdditionalVersionWeights cannot be greater than 1")
        heavy = error_of(lambda: LAMBDA.create_alias(
            FunctionName="aliased", Name="a", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 2.0}},
        ))
        self.assertEqual(heavy["Error"]["Code"], "ValidationException")
        self.assertEqual(
            heavy["Error"]["Message"],
            "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to "
            "satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to "
            "1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
        )
        latest = error_of(lambda: LAMBDA.create_alias(
            FunctionName="aliased", Name="a", FunctionVersion="$LATEST",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
        ))
        self.assertEqual(latest["Error"]["Message"], "$LATEST is not supported for an alias pointing to more than 1 version")
        digits = error_of(lambda: LAMBDA.create_alias(FunctionName="aliased", Name="2024", FunctionVersion="1"))
        self.assertEqual(digits["Error"]["Code"], "ValidationException")
        missing = error_of(lambda: LAMBDA.create_alias(FunctionName="aliased", Name="a", FunctionVersion="9"))
        self.assertEqual(missing["Error"]["Message"], f"Function not found: {ARN}:aliased:9")
        self.assertEqual(LAMBDA.list_aliases(FunctionName="aliased")["Aliases"], [])
        LAMBDA.create_alias(FunctionName="aliased", Name="a", FunctionVersion="1")
        exists = error_of(lambda: LAMBDA.create_alias(FunctionName="aliased", Name="a", FunctionVersion="2"))
        self.assertEqual(exists["Error"]["Message"], f"Alias already exists: {ARN}:aliased:a")
        self.assertEqual(exists["ResponseMetadata"]["HTTPStatusCode"], 409)
        unknown = error_of(lambda: LAMBDA.update_alias(FunctionName="aliased", Name="nope", FunctionVersion="1"))
        self.assertEqual(unknown["Error"]["Message"], f"Alias not found: {ARN}:aliased:nope")
        # Only the weights: the primary version stays.
        weighted = LAMBDA.update_alias(FunctionName="aliased", Name="a", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        self.assertEqual((weighted["FunctionVersion"], weighted["RoutingConfig"]["AdditionalVersionWeights"]), ("1", {"2": 0.5}))

    def test_tags(self):
        create("tagged", Tags={"a": "1"})
        function_arn = f"{ARN}:tagged"
        self.assertEqual(LAMBDA.list_tags(Resource=function_arn)["Tags"], {"a": "1"})
        LAMBDA.tag_resource(Resource=function_arn, Tags={"b": "2", "a": "3"})
        self.assertEqual(LAMBDA.list_tags(Resource=function_arn)["Tags"], {"a": "3", "b": "2"})
        LAMBDA.untag_resource(Resource=function_arn, TagKeys=["a", "zzz"])
        self.assertEqual(LAMBDA.get_function(FunctionName="tagged")["Tags"], {"b": "2"})
        qualified = error_of(lambda: LAMBDA.tag_resource(Resource=f"{function_arn}:1", Tags={"c": "1"}))
        self.assertEqual(
            qualified["Error"]["Message"],
            "Tags on function aliases and versions are not supported. Please specify a function ARN.",
        )
        missing = error_of(lambda: LAMBDA.list_tags(Resource=f"{ARN}:nobody"))
        self.assertEqual(missing["Error"]["Message"], f"Function not found: {ARN}:nobody")

    def test_declared_functions_are_managed_by_the_configuration(self):
        code_update = error_of(lambda: LAMBDA.update_function_code(FunctionName="echo", ZipFile=code("x")))
        self.assertEqual(code_update["Error"]["Code"], "ResourceConflictException")
        self.assertIn("is declared in", code_update["Error"]["Message"])
        configuration = error_of(lambda: LAMBDA.update_function_configuration(FunctionName="echo", Timeout=9))
        self.assertEqual(configuration["ResponseMetadata"]["HTTPStatusCode"], 409)
        delete = error_of(lambda: LAMBDA.delete_function(FunctionName="echo"))
        self.assertEqual(delete["Error"]["Code"], "ResourceConflictException")
        declared_version = error_of(lambda: LAMBDA.delete_function(FunctionName="echo", Qualifier="1"))
        self.assertEqual(declared_version["Error"]["Code"], "ResourceConflictException")
        alias = error_of(lambda: LAMBDA.update_alias(FunctionName="echo", Name="live", FunctionVersion="$LATEST"))
        self.assertEqual(alias["Error"]["Code"], "ResourceConflictException")
        # The file names no role: AWS always shows one.
        self.assertEqual(LAMBDA.get_function_configuration(FunctionName="echo")["Role"],
                         "arn:aws:iam::123456789012:role/albatross-echo")
        # Publishing and aliases the file does not declare are allowed, as with `albatross publish` / `alias set`.
        self.assertEqual(LAMBDA.publish_version(FunctionName="echo")["Version"], "1")
        LAMBDA.create_alias(FunctionName="echo", Name="api-made", FunctionVersion="1")
        self.assertEqual(invoke("echo", "api-made")[0]["ExecutedVersion"], "1")
        LAMBDA.delete_alias(FunctionName="echo", Name="api-made")
        self.assertEqual(invoke("echo")[1]["greeting"], "hello")


@unittest.skipUnless(os.environ.get("ALBATROSS_MEASURE"), "ALBATROSS_MEASURE not set")
class Measure(unittest.TestCase):
    def test_update_code_to_first_invoke_on_new_code(self):
        create("measured", tag="0")
        invoke("measured")
        figures, updates, warm = [], [], []
        for round in range(1, 21):
            started = time.perf_counter()
            LAMBDA.update_function_code(FunctionName="measured", ZipFile=code(str(round)))
            returned = time.perf_counter()
            while invoke("measured")[1]["tag"] != str(round):
                pass
            answered = time.perf_counter()
            invoke("measured")
            warm.append((time.perf_counter() - answered) * 1000)
            updates.append((returned - started) * 1000)
            figures.append((answered - returned) * 1000)

        def summary(values):
            values = sorted(values)
            return f"p50 {statistics.median(values):.1f} ms, min {values[0]:.1f} ms, max {values[-1]:.1f} ms"

        print(
            f"\n20 rounds: UpdateFunctionCode call {summary(updates)}; its return → first invoke answered by the "
            f"new code {summary(figures)}; the next (warm) invoke {summary(warm)}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    unittest.main(verbosity=2)
