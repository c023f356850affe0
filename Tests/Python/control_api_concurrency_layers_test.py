"""Concurrency and layers through the control API against a running Albatross, with real boto3 and the AWS CLI.

Run by Tests/IntegrationTests/ControlAPIEndToEndTests.swift, which starts the server and sets:
  ALBATROSS_API_ENDPOINT   http://127.0.0.1:<port> (auth: sigv4)
  ALBATROSS_ACCESS_KEY / ALBATROSS_SECRET_KEY   the configured credential
The server's configuration declares `echo` (version 1, alias `live`); every other function is made here.
"""
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["ALBATROSS_API_ENDPOINT"]
ACCESS_KEY = os.environ["ALBATROSS_ACCESS_KEY"]
SECRET_KEY = os.environ["ALBATROSS_SECRET_KEY"]
ARN = "arn:aws:lambda:us-east-1:123456789012:function"
LAYER_ARN = "arn:aws:lambda:us-east-1:123456789012:layer"
ROLE = "arn:aws:iam::123456789012:role/service-role/test"
LAMBDA = boto3.client(
    "lambda", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
    aws_secret_access_key=SECRET_KEY, config=Config(retries={"max_attempts": 1}, read_timeout=60),
)

HANDLER = (
    "import os\n"
    "def handler(event, context):\n"
    "    result = {'version': context.function_version,\n"
    "              'init': os.environ.get('AWS_LAMBDA_INITIALIZATION_TYPE')}\n"
    "    if event.get('greet'):\n"
    "        import greeting\n"
    "        result['greeting'] = greeting.GREETING\n"
    "    return result\n"
)


def make_zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), content)
    return buffer.getvalue()


def create(name, **extra):
    arguments = dict(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
        Code={"ZipFile": make_zip({"index.py": HANDLER})}, Timeout=20,
    )
    arguments.update(extra)
    return LAMBDA.create_function(**arguments)


def invoke(name, qualifier=None, payload=None):
    arguments = dict(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    if qualifier:
        arguments["Qualifier"] = qualifier
    response = LAMBDA.invoke(**arguments)
    return response, json.loads(response["Payload"].read())


def error_of(call):
    try:
        call()
    except ClientError as error:
        return error.response
    raise AssertionError("the call succeeded")


def aws(*arguments):
    environment = dict(
        os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    done = subprocess.run(
        [sys.executable, "-m", "awscli", "lambda", *arguments, "--endpoint-url", ENDPOINT, "--output", "json"],
        capture_output=True, text=True, env=environment, timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


class ReservedConcurrency(unittest.TestCase):
    def test_zero_throttles_with_429_and_its_reason_then_the_cli_sets_and_removes_it(self):
        create("capped")
        self.assertEqual(invoke("capped")[0]["StatusCode"], 200)
        put = LAMBDA.put_function_concurrency(FunctionName="capped", ReservedConcurrentExecutions=0)
        self.assertEqual(put["ReservedConcurrentExecutions"], 0)
        self.assertEqual(LAMBDA.get_function_concurrency(FunctionName="capped")["ReservedConcurrentExecutions"], 0)
        self.assertEqual(LAMBDA.get_function(FunctionName="capped")["Concurrency"], {"ReservedConcurrentExecutions": 0})
        # The very next invoke is throttled: the running server applied it before answering.
        throttled = error_of(lambda: invoke("capped"))
        self.assertEqual(throttled["ResponseMetadata"]["HTTPStatusCode"], 429)
        self.assertEqual(throttled["Error"]["Code"], "TooManyRequestsException")
        self.assertEqual(throttled["Error"]["Message"], "Rate Exceeded.")
        self.assertEqual(throttled["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded")
        self.assertEqual(throttled["retryAfterSeconds"], "1")
        self.assertEqual(throttled["ResponseMetadata"]["HTTPHeaders"]["retry-after"], "1")

        code, out, err = aws("put-function-concurrency", "--function-name", "capped",
                             "--reserved-concurrent-executions", "3")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), {"ReservedConcurrentExecutions": 3})
        self.assertEqual(invoke("capped")[0]["StatusCode"], 200)
        settings = LAMBDA.get_account_settings()["AccountLimit"]
        self.assertEqual(settings["ConcurrentExecutions"], 1000)
        self.assertEqual(settings["UnreservedConcurrentExecutions"], 997)
        code, out, err = aws("get-function-concurrency", "--function-name", "capped")
        self.assertEqual((code, json.loads(out)), (0, {"ReservedConcurrentExecutions": 3}), err)
        code, out, err = aws("delete-function-concurrency", "--function-name", "capped")
        self.assertEqual(code, 0, err)
        self.assertNotIn("ReservedConcurrentExecutions", LAMBDA.get_function_concurrency(FunctionName="capped"))
        self.assertEqual(LAMBDA.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"], 1000)
        LAMBDA.delete_function(FunctionName="capped")

    def test_errors_as_aws_answers_them(self):
        create("reserve-errors")
        over = error_of(lambda: LAMBDA.put_function_concurrency(
            FunctionName="reserve-errors", ReservedConcurrentExecutions=901))
        self.assertEqual(over["Error"]["Code"], "InvalidParameterValueException")
        self.assertEqual(
            over["Error"]["Message"],
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
            "below its minimum value of [100].",
        )
        qualified = error_of(lambda: LAMBDA.put_function_concurrency(
            FunctionName="reserve-errors:$LATEST", ReservedConcurrentExecutions=1))
        self.assertTrue(qualified["Error"]["Message"].startswith("This operation is permitted on Lambda functions only."))
        missing = error_of(lambda: LAMBDA.put_function_concurrency(FunctionName="nope", ReservedConcurrentExecutions=1))
        self.assertEqual(missing["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(missing["Error"]["Message"], f"Function not found: {ARN}:nope:$LATEST")
        declared = error_of(lambda: LAMBDA.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=1))
        self.assertEqual(declared["Error"]["Code"], "ResourceConflictException")
        self.assertIn("test.yaml, which manages its reserved concurrency", declared["Error"]["Message"])
        LAMBDA.delete_function(FunctionName="reserve-errors")


class ProvisionedConcurrency(unittest.TestCase):
    def test_a_version_gets_ready_environments_and_invokes_run_on_them(self):
        create("warm")
        version = LAMBDA.publish_version(FunctionName="warm")["Version"]
        LAMBDA.create_alias(FunctionName="warm", Name="live", FunctionVersion=version)
        put = LAMBDA.put_provisioned_concurrency_config(
            FunctionName="warm", Qualifier=version, ProvisionedConcurrentExecutions=1)
        self.assertEqual(put["ResponseMetadata"]["HTTPStatusCode"], 202)
        self.assertEqual(put["Status"], "IN_PROGRESS")
        self.assertEqual(put["RequestedProvisionedConcurrentExecutions"], 1)
        self.assertRegex(put["LastModified"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
        deadline = time.time() + 60
        while True:
            got = LAMBDA.get_provisioned_concurrency_config(FunctionName="warm", Qualifier=version)
            if got["Status"] == "READY" or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(got["Status"], "READY")
        self.assertEqual(got["AvailableProvisionedConcurrentExecutions"], 1)
        self.assertEqual(got["AllocatedProvisionedConcurrentExecutions"], 1)
        # The invoke lands on the environment started ahead of it.
        self.assertEqual(invoke("warm", version)[1]["init"], "provisioned-concurrency")
        self.assertEqual(invoke("warm")[1]["init"], "on-demand")
        # An alias over the provisioned version is AWS's 409.
        conflict = error_of(lambda: LAMBDA.put_provisioned_concurrency_config(
            FunctionName="warm", Qualifier="live", ProvisionedConcurrentExecutions=1))
        self.assertEqual(conflict["Error"]["Code"], "ResourceConflictException")
        code, out, err = aws("list-provisioned-concurrency-configs", "--function-name", "warm")
        self.assertEqual(code, 0, err)
        configs = json.loads(out)["ProvisionedConcurrencyConfigs"]
        self.assertEqual([c["FunctionArn"] for c in configs], [f"{ARN}:warm:{version}"])
        code, out, err = aws("delete-provisioned-concurrency-config", "--function-name", "warm",
                             "--qualifier", version)
        self.assertEqual(code, 0, err)
        gone = error_of(lambda: LAMBDA.get_provisioned_concurrency_config(FunctionName="warm", Qualifier=version))
        self.assertEqual(gone["Error"]["Code"], "ProvisionedConcurrencyConfigNotFoundException")
        self.assertEqual(gone["Error"]["Message"], "No Provisioned Concurrency Config found for this function")
        latest = error_of(lambda: LAMBDA.put_provisioned_concurrency_config(
            FunctionName="warm", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1))
        self.assertEqual(
            latest["Error"]["Message"], "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        get_latest = error_of(lambda: LAMBDA.get_provisioned_concurrency_config(FunctionName="warm", Qualifier="$LATEST"))
        self.assertEqual(
            get_latest["Error"]["Message"], "The function resource provided must be an alias or a published version.")
        LAMBDA.delete_alias(FunctionName="warm", Name="live")
        LAMBDA.delete_function(FunctionName="warm")

    def test_the_declared_version_is_the_configurations(self):
        declared = error_of(lambda: LAMBDA.put_provisioned_concurrency_config(
            FunctionName="echo", Qualifier="1", ProvisionedConcurrentExecutions=1))
        self.assertEqual(declared["Error"]["Code"], "ResourceConflictException")


class Layers(unittest.TestCase):
    def test_publish_with_the_cli_use_by_arn_list_and_delete(self):
        layer = make_zip({"python/greeting.py": "GREETING = 'hello from a layer'\n"})
        with tempfile.NamedTemporaryFile(suffix=".zip", delete=False) as file:
            file.write(layer)
        code, out, err = aws("publish-layer-version", "--layer-name", "greetings", "--zip-file", f"fileb://{file.name}",
                             "--compatible-runtimes", "python3.12", "--description", "words")
        self.assertEqual(code, 0, err)
        published = json.loads(out)
        self.assertEqual(published["LayerVersionArn"], f"{LAYER_ARN}:greetings:1")
        self.assertEqual(published["Content"]["CodeSize"], len(layer))
        self.assertEqual(published["CompatibleRuntimes"], ["python3.12"])
        second = LAMBDA.publish_layer_version(LayerName="greetings", Content={"ZipFile": layer})
        self.assertEqual(second["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(second["Version"], 2)
        # The download link serves the uploaded zip.
        import urllib.request
        with urllib.request.urlopen(second["Content"]["Location"], timeout=10) as download:
            self.assertEqual(download.read(), layer)

        created = create("layered", Layers=[f"{LAYER_ARN}:greetings:1"])
        self.assertEqual(created["Layers"], [{"Arn": f"{LAYER_ARN}:greetings:1", "CodeSize": len(layer)}])
        self.assertEqual(invoke("layered", payload={"greet": True})[1]["greeting"], "hello from a layer")

        versions = LAMBDA.list_layer_versions(LayerName="greetings")["LayerVersions"]
        self.assertEqual([v["Version"] for v in versions], [2, 1])
        paged = [v["Version"] for page in LAMBDA.get_paginator("list_layer_versions").paginate(
            LayerName="greetings", PaginationConfig={"PageSize": 1}) for v in page["LayerVersions"]]
        self.assertEqual(paged, [2, 1])
        layers = LAMBDA.list_layers(CompatibleRuntime="python3.12")["Layers"]
        self.assertEqual([(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in layers], [("greetings", 1)])
        by_arn = LAMBDA.get_layer_version_by_arn(Arn=f"{LAYER_ARN}:greetings:2")
        self.assertEqual(by_arn["Version"], 2)
        self.assertEqual(LAMBDA.get_layer_version(LayerName="greetings", VersionNumber=1)["Description"], "words")

        code, _, err = aws("delete-layer-version", "--layer-name", "greetings", "--version-number", "1")
        self.assertEqual(code, 0, err)
        missing = error_of(lambda: LAMBDA.get_layer_version(LayerName="greetings", VersionNumber=1))
        self.assertEqual(missing["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(missing["Error"]["Message"], "The resource you requested does not exist.")
        # The function that uses it keeps it, also across a change of its configuration (a new environment).
        LAMBDA.update_function_configuration(FunctionName="layered", MemorySize=256)
        self.assertEqual(invoke("layered", payload={"greet": True})[1]["greeting"], "hello from a layer")
        refused = error_of(lambda: create("late", Layers=[f"{LAYER_ARN}:greetings:1"]))
        self.assertEqual(refused["Error"]["Code"], "InvalidParameterValueException")
        less = error_of(lambda: LAMBDA.get_layer_version(LayerName="greetings", VersionNumber=0))
        self.assertEqual(less["Error"]["Message"], "Layer Version Cannot be less than 1")
        LAMBDA.delete_function(FunctionName="layered")

    def test_hostile_zip_and_bad_members_store_nothing(self):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("../../escape.txt", "out")
        refused = error_of(lambda: LAMBDA.publish_layer_version(LayerName="evil", Content={"ZipFile": buffer.getvalue()}))
        self.assertEqual(refused["Error"]["Code"], "InvalidParameterValueException")
        self.assertTrue(refused["Error"]["Message"].startswith("Could not unzip uploaded file."))
        runtime = error_of(lambda: LAMBDA.publish_layer_version(
            LayerName="evil", Content={"ZipFile": make_zip({"a": "b"})}, CompatibleRuntimes=["cobol9"]))
        self.assertEqual(runtime["Error"]["Code"], "ValidationException")
        self.assertEqual(LAMBDA.list_layer_versions(LayerName="evil")["LayerVersions"], [])


class Policies(unittest.TestCase):
    def test_add_permission_with_the_cli_get_policy_and_remove(self):
        create("guarded")
        version = LAMBDA.publish_version(FunctionName="guarded")["Version"]
        LAMBDA.create_alias(FunctionName="guarded", Name="live", FunctionVersion=version)
        target_group = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
        code, out, err = aws("add-permission", "--function-name", "guarded", "--statement-id", "elb1",
                             "--principal", "elasticloadbalancing.amazonaws.com", "--action", "lambda:InvokeFunction",
                             "--source-arn", target_group, "--source-account", "123456789012")
        self.assertEqual(code, 0, err)
        statement = json.loads(json.loads(out)["Statement"])
        self.assertEqual(statement, {
            "Sid": "elb1", "Effect": "Allow", "Principal": {"Service": "elasticloadbalancing.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": f"{ARN}:guarded",
            "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                          "ArnLike": {"AWS:SourceArn": target_group}},
        })
        policy = LAMBDA.get_policy(FunctionName="guarded")
        document = json.loads(policy["Policy"])
        self.assertEqual((document["Version"], document["Id"]), ("2012-10-17", "default"))
        self.assertEqual(document["Statement"], [statement])
        added = LAMBDA.add_permission(FunctionName="guarded", Qualifier="live", StatementId="sns",
                                      Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")
        self.assertEqual(added["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(json.loads(added["Statement"])["Resource"], f"{ARN}:guarded:live")
        self.assertEqual(len(json.loads(LAMBDA.get_policy(FunctionName="guarded:live")["Policy"])["Statement"]), 1)
        duplicate = error_of(lambda: LAMBDA.add_permission(
            FunctionName="guarded", StatementId="elb1", Action="lambda:InvokeFunction", Principal="*"))
        self.assertEqual(duplicate["Error"]["Code"], "ResourceConflictException")
        latest = error_of(lambda: LAMBDA.add_permission(
            FunctionName="guarded", Qualifier="$LATEST", StatementId="x", Action="lambda:InvokeFunction",
            Principal="*"))
        self.assertEqual(latest["Error"]["Message"], "We currently do not support adding policies for $LATEST.")
        stale = error_of(lambda: LAMBDA.remove_permission(
            FunctionName="guarded", StatementId="elb1", RevisionId="00000000-0000-4000-8000-000000000000"))
        self.assertEqual(stale["Error"]["Code"], "PreconditionFailedException")
        LAMBDA.remove_permission(FunctionName="guarded", StatementId="elb1", RevisionId=policy["RevisionId"])
        gone = error_of(lambda: LAMBDA.get_policy(FunctionName="guarded"))
        self.assertEqual(gone["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(gone["Error"]["Message"], "The resource you requested does not exist.")
        code, _, err = aws("remove-permission", "--function-name", "guarded", "--qualifier", "live",
                           "--statement-id", "sns")
        self.assertEqual(code, 0, err)
        LAMBDA.delete_alias(FunctionName="guarded", Name="live")
        LAMBDA.delete_function(FunctionName="guarded")


if __name__ == "__main__":
    unittest.main(verbosity=2)
