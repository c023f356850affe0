# An ALB target that answers with the event it received, so you can see exactly what the load balancer sent.
# The body is base64-encoded because bash has no JSON encoder; the ALB decodes it before the client sees it.
handler() {
  EVENT="$1"
  echo "echo: handling a $(printf '%s' "$EVENT" | wc -c)-byte event" >&2
  BODY=$(printf '%s' "$EVENT" | base64 -w0)
  printf '{"statusCode":200,"statusDescription":"200 OK","isBase64Encoded":true,'
  printf '"headers":{"Content-Type":"application/json","X-Environment":"%s","X-Greeting":"%s"},' \
    "$AWS_LAMBDA_LOG_STREAM_NAME" "${GREETING:-hello}"
  printf '"multiValueHeaders":{"Content-Type":["application/json"],"X-Environment":["%s"],"X-Greeting":["%s"]},' \
    "$AWS_LAMBDA_LOG_STREAM_NAME" "${GREETING:-hello}"
  printf '"body":"%s"}' "$BODY"
}
