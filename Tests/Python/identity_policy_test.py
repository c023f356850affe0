"""Identity-based policies per credential and cross-account access, with real boto3 (SigV4) and the real AWS CLI.

Run by Tests/IntegrationTests/ResourcePolicyEnforcementTests.swift, which starts the server with `auth: sigv4` and
these credentials (secret key = access key id in lower case):
  AKIDADMIN     platform account 123456789012, no policy: may do everything
  AKIDREADER    lambda:Get* and lambda:List* on everything, an explicit Deny of lambda:GetFunction on `secret`
  AKIDINVOKER   lambda:InvokeFunction on the unqualified `web` only
  AKIDOTHER     account 111122223333 (principalArn arn:aws:iam::111122223333:user/bob), no policy
  AKIDOTHERDENY account 111122223333, an explicit Deny of lambda:InvokeFunction
and sets ALBATROSS_API_ENDPOINT. The YAML declares `web` (version 1, alias `live`) and `secret`.
"""
import json
import os
import subprocess
import sys
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["ALBATROSS_API_ENDPOINT"]
ARN = "arn:aws:lambda:us-east-1:123456789012:function"


def client(key):
    return boto3.client(
        "lambda", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=key.lower(), config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )


ADMIN, READER, INVOKER, OTHER, OTHER_DENY = (
    client(k) for k in ("AKIDADMIN", "AKIDREADER", "AKIDINVOKER", "AKIDOTHER", "AKIDOTHERDENY"))


def denied(call):
    try:
        call()
    except ClientError as error:
        response = error.response
        assert response["Error"]["Code"] == "AccessDeniedException", response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 403, response
        assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "AccessDeniedException", response
        return response["Error"]["Message"]
    raise AssertionError("the call succeeded")


def message(user, action, resource, reason):
    return f"User: {user} is not authorized to perform: {action} on resource: {resource} {reason}"


def no_identity(action):
    return f"because no identity-based policy allows the {action} action"


def invoke(lambda_client, name, **extra):
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}", **extra)
    return response["StatusCode"], json.loads(response["Payload"].read())


class IdentityPolicies(unittest.TestCase):
    def test_1_the_reader_reads_and_cannot_invoke_or_read_what_is_denied(self):
        self.assertEqual(
            sorted(f["FunctionName"] for f in READER.list_functions()["Functions"]), ["secret", "web"])
        self.assertEqual(READER.get_function(FunctionName="web")["Configuration"]["FunctionName"], "web")
        self.assertEqual(READER.get_alias(FunctionName="web", Name="live")["Name"], "live")
        self.assertEqual(
            denied(lambda: invoke(READER, "web")),
            message("arn:aws:iam::123456789012:user/AKIDREADER", "lambda:InvokeFunction", f"{ARN}:web",
                    no_identity("lambda:InvokeFunction")))
        self.assertEqual(
            denied(lambda: READER.get_function(FunctionName="secret")),
            message("arn:aws:iam::123456789012:user/AKIDREADER", "lambda:GetFunction", f"{ARN}:secret",
                    "with an explicit deny in an identity-based policy"))
        # Get* still allows another Get action on the same function.
        self.assertEqual(READER.get_function_configuration(FunctionName="secret")["FunctionName"], "secret")
        self.assertIn("not authorized to perform: lambda:DeleteFunction",
                      denied(lambda: READER.delete_function(FunctionName="web")))
        self.assertEqual(len(ADMIN.list_functions()["Functions"]), 2, "nothing was deleted")

    def test_2_the_invoker_invokes_what_its_policy_names_and_a_resource_policy_adds_the_alias(self):
        self.assertEqual(invoke(INVOKER, "web")[0], 200)
        self.assertEqual(
            denied(lambda: invoke(INVOKER, "web", Qualifier="live")),
            message("arn:aws:iam::123456789012:user/AKIDINVOKER", "lambda:InvokeFunction", f"{ARN}:web:live",
                    no_identity("lambda:InvokeFunction")))
        self.assertIn("lambda:GetFunction on resource", denied(lambda: INVOKER.get_function(FunctionName="web")))
        # Within one account, a resource policy that allows is enough.
        ADMIN.add_permission(FunctionName="web", Qualifier="live", StatementId="invoker",
                             Action="lambda:InvokeFunction", Principal="arn:aws:iam::123456789012:user/AKIDINVOKER")
        self.assertEqual(invoke(INVOKER, "web", Qualifier="live")[0], 200)
        self.assertEqual(invoke(INVOKER, "web:live")[0], 200)

    def test_3_another_account_needs_a_resource_policy_and_its_own_identity_policy(self):
        self.assertEqual(
            denied(lambda: invoke(OTHER, f"{ARN}:web")),
            message("arn:aws:iam::111122223333:user/bob", "lambda:InvokeFunction", f"{ARN}:web",
                    "because no resource-based policy allows the lambda:InvokeFunction action"))
        # The AWS CLI grants the account.
        environment = dict(
            os.environ, AWS_ACCESS_KEY_ID="AKIDADMIN", AWS_SECRET_ACCESS_KEY="akidadmin",
            AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )
        done = subprocess.run(
            [sys.executable, "-m", "awscli", "lambda", "add-permission", "--function-name", "web", "--statement-id",
             "other-account", "--action", "lambda:InvokeFunction", "--principal", "111122223333",
             "--endpoint-url", ENDPOINT, "--output", "json"],
            capture_output=True, text=True, env=environment, timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(invoke(OTHER, f"{ARN}:web")[0], 200)
        # Only what the statement grants: not another action, not another qualifier.
        self.assertIn("because no resource-based policy allows the lambda:GetFunction action",
                      denied(lambda: OTHER.get_function(FunctionName=f"{ARN}:web")))
        self.assertIn(f"on resource: {ARN}:web:live ", denied(lambda: invoke(OTHER, f"{ARN}:web:live")))
        # Both must allow: the other key's own explicit Deny wins over the resource policy.
        self.assertEqual(
            denied(lambda: invoke(OTHER_DENY, f"{ARN}:web")),
            message("arn:aws:iam::111122223333:user/AKIDOTHERDENY", "lambda:InvokeFunction", f"{ARN}:web",
                    "with an explicit deny in an identity-based policy"))
        # Listing is not granted by a function's resource policy.
        self.assertIn("lambda:ListFunctions on resource: * ", denied(lambda: OTHER.list_functions()))

    def test_4_the_administrator_key_is_unrestricted(self):
        self.assertEqual(invoke(ADMIN, "secret")[0], 200)
        ADMIN.remove_permission(FunctionName="web", StatementId="other-account")
        self.assertIn("no resource-based policy", denied(lambda: invoke(OTHER, f"{ARN}:web")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
