import Foundation
import Testing

@testable import ControlAPI

/// AddPermission / RemovePermission / GetPolicy: the statement AWS builds from the parameters, per-qualifier
/// policies, AWS's errors, and the RevisionId preconditions, over a real registry.
@Suite(.serialized)
struct PolicyTests {
    typealias Fixture = ConcurrencyAndLayersTests.Fixture
    static let arn = ConcurrencyAndLayersTests.arn

    static func message(_ json: [String: Any]) -> String { ConcurrencyAndLayersTests.message(json) }

    static func decoded(_ text: Any?) -> [String: Any] {
        guard let text = text as? String else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    @Test func statementsAsAWSBuildsThemPerQualifier() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        try await fixture.makeFunction("fn")
        let (added, addedJSON) = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy",
            json: [
                "StatementId": "s3", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
                "SourceArn": "arn:aws:s3:::my-bucket", "SourceAccount": "123456789012",
            ])
        #expect(added.status == 201)
        #expect(
            addedJSON["Statement"] as? String
                == #"{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"#
                + #""Action":"lambda:InvokeFunction","Resource":"\#(Self.arn):fn","#
                + #""Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"},"#
                + #""ArnLike":{"AWS:SourceArn":"arn:aws:s3:::my-bucket"}}}"#)
        let account = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy",
            json: ["StatementId": "acct", "Action": "lambda:*", "Principal": "111122223333"])
        #expect(
            Self.decoded(account.1["Statement"])["Principal"] as? [String: String] == [
                "AWS": "arn:aws:iam::111122223333:root"
            ])
        let everyone = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy",
            json: ["StatementId": "all", "Action": "*", "Principal": "*"])
        #expect(Self.decoded(everyone.1["Statement"])["Principal"] as? String == "*")

        let (policy, policyJSON) = await fixture.send("GET", "/2015-03-31/functions/fn/policy")
        #expect(policy.status == 200)
        let document = Self.decoded(policyJSON["Policy"])
        #expect(document["Version"] as? String == "2012-10-17")
        #expect(document["Id"] as? String == "default")
        #expect((document["Statement"] as? [[String: Any]])?.map { $0["Sid"] as? String } == ["s3", "acct", "all"])
        let revision = policyJSON["RevisionId"] as? String ?? ""
        #expect(revision.count == 36)

        // A version's and an alias's policies are their own; $LATEST has none.
        let (qualified, qualifiedJSON) = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy?Qualifier=live",
            json: ["StatementId": "s3", "Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com"])
        #expect(qualified.status == 201)
        #expect(Self.decoded(qualifiedJSON["Statement"])["Resource"] as? String == "\(Self.arn):fn:live")
        let live = Self.decoded(await fixture.send("GET", "/2015-03-31/functions/fn:live/policy").1["Policy"])
        #expect((live["Statement"] as? [[String: Any]])?.count == 1)
        let (latest, latestJSON) = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy?Qualifier=%24LATEST",
            json: ["StatementId": "x", "Action": "lambda:InvokeFunction", "Principal": "*"])
        #expect(latest.status == 400)
        #expect(Self.message(latestJSON) == "We currently do not support adding policies for $LATEST.")
        #expect(await fixture.send("GET", "/2015-03-31/functions/fn/policy?Qualifier=2").0.status == 404)

        // Errors as AWS's.
        let (duplicate, duplicateJSON) = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy",
            json: ["StatementId": "s3", "Action": "lambda:InvokeFunction", "Principal": "*"])
        #expect(duplicate.status == 409)
        #expect(
            Self.message(duplicateJSON)
                == "The statement id (s3) provided already exists. Please provide a new statement id, or remove the "
                + "existing statement.")
        let (badSid, badSidJSON) = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy",
            json: ["StatementId": "a b", "Action": "lambda:InvokeFunction", "Principal": "*"])
        #expect(ConcurrencyAndLayersTests.errorType(badSid) == "ValidationException")
        #expect(Self.message(badSidJSON).contains("at 'statementId'"))
        let (badPrincipal, badPrincipalJSON) = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy",
            json: ["StatementId": "p", "Action": "lambda:InvokeFunction", "Principal": "someone"])
        #expect(badPrincipal.status == 400)
        #expect(
            Self.message(badPrincipalJSON)
                == "The provided principal was invalid. Please check the principal and try again.")
        let (noAlias, noAliasJSON) = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy?Qualifier=gone",
            json: ["StatementId": "p", "Action": "lambda:InvokeFunction", "Principal": "*"])
        #expect(noAlias.status == 404)
        #expect(Self.message(noAliasJSON) == "Cannot find alias arn: \(Self.arn):fn:gone")
        let (stale, _) = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy",
            json: [
                "StatementId": "late", "Action": "lambda:InvokeFunction", "Principal": "*",
                "RevisionId": "00000000-0000-4000-8000-000000000000",
            ])
        #expect(stale.status == 412)

        // RemovePermission.
        let (wrongRevision, _) = await fixture.send(
            "DELETE", "/2015-03-31/functions/fn/policy/acct?RevisionId=00000000-0000-4000-8000-000000000000")
        #expect(wrongRevision.status == 412)
        #expect(
            await fixture.send("DELETE", "/2015-03-31/functions/fn/policy/acct?RevisionId=\(revision)").0.status == 204)
        let (unknown, unknownJSON) = await fixture.send("DELETE", "/2015-03-31/functions/fn/policy/acct")
        #expect(unknown.status == 404)
        #expect(Self.message(unknownJSON) == "Statement acct is not found in resource policy.")
        let (noFunction, noFunctionJSON) = await fixture.send("DELETE", "/2015-03-31/functions/nope/policy/a")
        #expect(Self.message(noFunctionJSON) == "No policy found for: \(Self.arn):nope")
        #expect(noFunction.status == 404)
        for sid in ["s3", "all"] {
            #expect(await fixture.send("DELETE", "/2015-03-31/functions/fn/policy/\(sid)").0.status == 204)
        }
        let (none, noneJSON) = await fixture.send("GET", "/2015-03-31/functions/fn/policy")
        #expect(none.status == 404)
        #expect(Self.message(noneJSON) == "The resource you requested does not exist.")
        let (empty, emptyJSON) = await fixture.send("DELETE", "/2015-03-31/functions/fn/policy/s3")
        #expect(empty.status == 404)
        #expect(Self.message(emptyJSON) == "No policy is associated with the given resource.")
        // The alias's policy goes with the alias.
        #expect(await fixture.send("DELETE", "/2015-03-31/functions/fn/aliases/live").0.status == 204)
        _ = await fixture.send(
            "POST", "/2015-03-31/functions/fn/aliases", json: ["Name": "live", "FunctionVersion": "1"])
        #expect(await fixture.send("GET", "/2015-03-31/functions/fn:live/policy").0.status == 404)
    }

    @Test func aPolicyIsAtMostTwentyKilobytes() async throws {
        let fixture = try Fixture()
        defer { Task { await fixture.close() } }
        try await fixture.makeFunction("fn")
        var last = 201
        var index = 0
        while last == 201 && index < 200 {
            index += 1
            last = await fixture.send(
                "POST", "/2015-03-31/functions/fn/policy",
                json: [
                    "StatementId": "statement-\(index)", "Action": "lambda:InvokeFunction",
                    "Principal": "s3.amazonaws.com", "SourceArn": "arn:aws:s3:::bucket-\(index)",
                ]
            ).0.status
        }
        #expect(last == 400)
        let (response, json) = await fixture.send(
            "POST", "/2015-03-31/functions/fn/policy",
            json: ["StatementId": "more", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"])
        #expect(ConcurrencyAndLayersTests.errorType(response) == "PolicyLengthExceededException")
        #expect(Self.message(json).hasPrefix("The final policy size ("))
        let policy = Self.decoded(await fixture.send("GET", "/2015-03-31/functions/fn/policy").1["Policy"])
        #expect((policy["Statement"] as? [Any])?.count == index - 1)
    }
}
