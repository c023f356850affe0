"""Resource policies that the running server enforces, with real boto3 and the real AWS CLI.

Run by Tests/IntegrationTests/ResourcePolicyEnforcementTests.swift, which starts the server with the default
`albatross.lambda_permissions.enforced` (true) and sets:
  ALBATROSS_API_ENDPOINT   http://127.0.0.1:<port> (auth: none)
  ALBATROSS_ALB            http://127.0.0.1:<port> of the ALB listener: `/` forwards to web-tg (function `web`),
                           `/live` to live-tg (`web:live`), `/v1` to v1-tg (`web:1`)
  ALBATROSS_WEB_TG / ALBATROSS_LIVE_TG / ALBATROSS_V1_TG   the three target groups' ARNs
The function `web` (version 1, alias `live`) is declared in the YAML and answers 200 "web".
"""
import json
import os
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["ALBATROSS_API_ENDPOINT"]
ALB = os.environ["ALBATROSS_ALB"]
WEB_TG = os.environ["ALBATROSS_WEB_TG"]
LIVE_TG = os.environ["ALBATROSS_LIVE_TG"]
V1_TG = os.environ["ALBATROSS_V1_TG"]
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:web"
ELB = "elasticloadbalancing.amazonaws.com"
LAMBDA = boto3.client(
    "lambda", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="AKIDLOCAL",
    aws_secret_access_key="local", config=Config(retries={"max_attempts": 1}, read_timeout=30),
)


def error_of(call):
    try:
        call()
    except ClientError as error:
        return error.response
    raise AssertionError("the call succeeded")


def alb(path):
    """(status, body) of one request to the ALB listener."""
    try:
        with urllib.request.urlopen(ALB + path, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def aws(*arguments):
    environment = dict(
        os.environ, AWS_ACCESS_KEY_ID="AKIDLOCAL", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    done = subprocess.run(
        [sys.executable, "-m", "awscli", "lambda", *arguments, "--endpoint-url", ENDPOINT, "--output", "json"],
        capture_output=True, text=True, env=environment, timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def revision(qualifier=None):
    if qualifier is None:
        return LAMBDA.get_function_configuration(FunctionName="web")["RevisionId"]
    if qualifier.isdigit():
        return LAMBDA.get_function_configuration(FunctionName="web", Qualifier=qualifier)["RevisionId"]
    return LAMBDA.get_alias(FunctionName="web", Name=qualifier)["RevisionId"]


def statements(qualifier=None):
    """The statements of web's policy (or one qualifier's) by Sid; {} when it has none."""
    arguments = {"FunctionName": "web"}
    if qualifier:
        arguments["Qualifier"] = qualifier
    try:
        policy = LAMBDA.get_policy(**arguments)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return {}
        raise
    return {statement["Sid"]: statement for statement in json.loads(policy["Policy"])["Statement"]}


class LoadBalancerPermission(unittest.TestCase):
    def test_0_each_yaml_target_group_has_a_real_statement_in_the_policy_its_function_is_named_by(self):
        for group, arn, qualifier in (("web-tg", WEB_TG, None), ("live-tg", LIVE_TG, "live"), ("v1-tg", V1_TG, "1")):
            found = statements(qualifier)
            self.assertEqual(list(found), ["AlbatrossLoadBalancer-" + group], found)
            self.assertEqual(found["AlbatrossLoadBalancer-" + group], {
                "Sid": "AlbatrossLoadBalancer-" + group, "Effect": "Allow", "Principal": {"Service": ELB},
                "Action": "lambda:InvokeFunction",
                "Resource": FUNCTION + (":" + qualifier if qualifier else ""),
                "Condition": {"ArnLike": {"AWS:SourceArn": arn}},
            })
        # The AWS CLI reads the same document.
        code, out, err = aws("get-policy", "--function-name", "web", "--qualifier", "live")
        self.assertEqual(code, 0, err)
        self.assertIn("AlbatrossLoadBalancer-live-tg", json.loads(json.loads(out)["Policy"])["Statement"][0]["Sid"])
        self.assertEqual(alb("/"), (200, "web"))
        self.assertEqual(alb("/live"), (200, "web"))
        self.assertEqual(alb("/v1"), (200, "web"))

    def test_1_without_a_statement_the_alb_answers_502_and_invokes_nothing(self):
        before = revision()
        code, _, err = aws("remove-permission", "--function-name", "web", "--statement-id",
                           "AlbatrossLoadBalancer-web-tg")
        self.assertEqual(code, 0, err)
        self.assertNotEqual(revision(), before, "removing the statement renews the RevisionId")
        self.assertEqual(statements(), {})
        self.assertEqual(alb("/")[0], 502)
        self.assertEqual(alb("/")[0], 502)
        # Each group's statement is its own: web:live keeps its.
        self.assertEqual(alb("/live"), (200, "web"))
        # The control API's own Invoke is the account's own caller: not subject to the ALB's permission.
        self.assertEqual(LAMBDA.invoke(FunctionName="web", Payload=b"{}")["StatusCode"], 200)
        # A removed statement is not put back by the server's next checks.
        self.assertEqual(alb("/")[0], 502)
        self.assertEqual(statements(), {})

    def test_2_a_statement_for_the_target_group_lets_it_invoke_and_renews_the_revision(self):
        before = revision()
        # Another service, and the load balancer for another target group, do not count.
        LAMBDA.add_permission(FunctionName="web", StatementId="s3", Action="lambda:InvokeFunction",
                              Principal="s3.amazonaws.com")
        LAMBDA.add_permission(FunctionName="web", StatementId="other-tg", Action="lambda:InvokeFunction",
                              Principal=ELB, SourceArn=LIVE_TG)
        self.assertEqual(alb("/")[0], 502)
        code, out, err = aws("add-permission", "--function-name", "web", "--statement-id", "alb",
                             "--principal", ELB, "--action", "lambda:InvokeFunction", "--source-arn", WEB_TG,
                             "--source-account", "123456789012")
        self.assertEqual(code, 0, err)
        self.assertEqual(alb("/"), (200, "web"))
        after = revision()
        self.assertNotEqual(after, before)
        self.assertEqual(LAMBDA.get_policy(FunctionName="web")["RevisionId"], after)

    def test_3_revision_preconditions_on_add_and_remove_permission(self):
        current = revision()
        stale_add = error_of(lambda: LAMBDA.add_permission(
            FunctionName="web", StatementId="late", Action="lambda:InvokeFunction", Principal=ELB,
            RevisionId="00000000-0000-4000-8000-000000000000"))
        self.assertEqual(stale_add["Error"]["Code"], "PreconditionFailedException")
        self.assertEqual(stale_add["ResponseMetadata"]["HTTPStatusCode"], 412)
        self.assertEqual(
            stale_add["Error"]["Message"],
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to "
            "retrieve the latest Revision Id")
        stale_remove = error_of(lambda: LAMBDA.remove_permission(
            FunctionName="web", StatementId="s3", RevisionId="00000000-0000-4000-8000-000000000000"))
        self.assertEqual(stale_remove["Error"]["Code"], "PreconditionFailedException")
        self.assertEqual(revision(), current, "a refused change changes nothing")
        # The function's RevisionId is the precondition: it holds, and the change renews it.
        LAMBDA.remove_permission(FunctionName="web", StatementId="s3", RevisionId=current)
        renewed = revision()
        self.assertNotEqual(renewed, current)
        old = error_of(lambda: LAMBDA.remove_permission(FunctionName="web", StatementId="other-tg",
                                                        RevisionId=current))
        self.assertEqual(old["Error"]["Code"], "PreconditionFailedException")
        added = LAMBDA.add_permission(FunctionName="web", StatementId="with-revision", Action="lambda:GetFunction",
                                      Principal="123456789012", RevisionId=renewed)
        self.assertEqual(added["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertNotEqual(revision(), renewed)
        self.assertEqual(LAMBDA.get_policy(FunctionName="web")["RevisionId"], revision())
        self.assertEqual(alb("/"), (200, "web"))

    def test_4_the_alias_needs_its_own_statement_matched_by_arn_like(self):
        # The unqualified function's statement (test 2) does not cover the alias: without its own, /live is denied.
        LAMBDA.remove_permission(FunctionName="web", Qualifier="live", StatementId="AlbatrossLoadBalancer-live-tg")
        self.assertEqual(alb("/"), (200, "web"))
        self.assertEqual(alb("/live")[0], 502)
        alias_before = revision("live")
        version_before = revision("1")
        LAMBDA.add_permission(FunctionName="web", Qualifier="live", StatementId="wrong-tg",
                              Action="lambda:InvokeFunction", Principal=ELB, SourceArn=WEB_TG)
        self.assertEqual(alb("/live")[0], 502)
        prefix = LIVE_TG.rsplit("/", 1)[0]
        LAMBDA.add_permission(FunctionName="web", Qualifier="live", StatementId="alb",
                              Action="lambda:*", Principal=ELB, SourceArn=prefix + "/*")
        self.assertEqual(alb("/live"), (200, "web"))
        self.assertNotEqual(revision("live"), alias_before)
        self.assertEqual(revision("1"), version_before, "the version's RevisionId is the version's own")
        self.assertEqual(LAMBDA.get_policy(FunctionName="web", Qualifier="live")["RevisionId"], revision("live"))
        stale = error_of(lambda: LAMBDA.add_permission(
            FunctionName="web", Qualifier="live", StatementId="x", Action="lambda:InvokeFunction", Principal=ELB,
            RevisionId=alias_before))
        self.assertEqual(stale["Error"]["Code"], "PreconditionFailedException")
        # On a version: its RevisionId renews.
        LAMBDA.add_permission(FunctionName="web", Qualifier="1", StatementId="v1", Action="lambda:InvokeFunction",
                              Principal=ELB)
        self.assertNotEqual(revision("1"), version_before)

    def test_5_removing_the_statement_denies_the_alb_again_at_once(self):
        code, _, err = aws("remove-permission", "--function-name", "web", "--statement-id", "alb",
                           "--revision-id", revision())
        self.assertEqual(code, 0, err)
        self.assertEqual(alb("/")[0], 502)
        self.assertEqual(alb("/live"), (200, "web"))
        LAMBDA.remove_permission(FunctionName="web", Qualifier="live", StatementId="alb")
        self.assertEqual(alb("/live")[0], 502)


if __name__ == "__main__":
    unittest.main(verbosity=2)
