/// Small bash runtimes speaking the Runtime API, for tests of real execution environments.
///
/// Each function is a real `bootstrap` (bash + curl), started as a child process by the platform under test.
public enum TestFunctions {
    /// A bootstrap running the documented loop; `handler` is a bash function body that receives the event in `$1`
    /// and prints the result on stdout. `initScript` runs once before the loop (INIT).
    public static func bash(handler: String, initScript: String = "") -> String {
        """
        #!/bin/bash
        set -uo pipefail
        API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
        \(initScript)
        handler() {
        \(handler)
        }
        while true; do
          HEADERS="$(mktemp)"
          EVENT_DATA=$(curl -sS -D "$HEADERS" "$API/invocation/next") || exit 1
          REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
          export NEXT_HEADERS="$(cat "$HEADERS")"
          rm -f "$HEADERS"
          # Not in a subshell, so that `exit` in a handler ends the runtime as a crash would.
          handler "$EVENT_DATA" > "$HEADERS.out"
          RESPONSE=$(cat "$HEADERS.out"); rm -f "$HEADERS.out"
          curl -sS -o /dev/null -H 'Content-Type: application/json' --data-binary "$RESPONSE" "$API/invocation/$REQUEST_ID/response"
        done
        """
    }

    /// Writes a `provided.al2023` function directory with `bootstrap` and returns its path.
    @discardableResult
    public static func writeBash(
        in directory: TemporaryDirectory, name: String, handler: String, initScript: String = ""
    ) throws -> String {
        try directory.write("\(name)/bootstrap", bash(handler: handler, initScript: initScript), executable: true)
        return directory.url(name)
    }

    /// An ALB-style success result with a JSON body made from a shell expression (already JSON-escaped).
    public static func albResponse(status: Int = 200, body: String) -> String {
        #"printf '{"statusCode":\#(status),"headers":{"content-type":"text/plain"},"multiValueHeaders":{"content-type":["text/plain"]},"body":"%s"}' "\#(body)""#
    }
}
