#!/usr/bin/env python3
"""Writes the seed corpora and dictionaries of the fuzz targets, from what the repository already has.

    seeds.py REPOSITORY OUTPUT

OUTPUT/<Target>/ gets one file per seed, named by its SHA-1; OUTPUT/<Target>.dict a libFuzzer dictionary.
Sources: the string literals of the test files (the ALB event and result vectors, the JSON parser's cases, the raw
HTTP requests of the front-end and Runtime API tests, the YAML of the configuration tests), config/example.yaml,
a few hand-written requests, and small zip archives made here with Python's zipfile (stored, deflated, a
directory, an executable, symbolic links inside and outside the package, `..`, an absolute path).
"""
import hashlib
import io
import os
import re
import sys
import zipfile

root, out = sys.argv[1], sys.argv[2]


def read(path):
    with open(os.path.join(root, path), encoding="utf-8") as handle:
        return handle.read()


def test_files(*directories):
    for directory in directories:
        base = os.path.join(root, "Tests", directory)
        for name in sorted(os.listdir(base)):
            if name.endswith(".swift"):
                yield read(os.path.join("Tests", directory, name))


ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "0": "\0", "'": "'"}


def unescape(text):
    def one(match):
        body = match.group(1)
        if body.startswith("u{"):
            return chr(int(body[2:-1], 16))
        return ESCAPES.get(body, match.group(0))

    return re.sub(r"\\(u\{[0-9a-fA-F]+\}|.)", one, text)


def literals(source):
    """Swift string literals: raw #"…"# (kept as written), "…" (unescaped) and multi-line \"\"\"…\"\"\" blocks,
    with literals joined by `+` across lines concatenated."""
    found = []
    for match in re.finditer(r'"""\n(.*?)\n\s*"""', source, re.S):
        lines = match.group(1).split("\n")
        indent = min((len(l) - len(l.lstrip()) for l in lines if l.strip()), default=0)
        found.append(unescape("\n".join(l[indent:] for l in lines) + "\n"))
    source = re.sub(r'"""\n.*?\n\s*"""', "", source, flags=re.S)
    source = re.sub(r'"#\s*\+\s*#"', "", source)  # #"a"# + #"b"#  →  #"ab"#
    source = re.sub(r'(?<!\\)"\s*\n\s*\+\s*"', "", source)  # "a"\n + "b"  →  "ab"
    for match in re.finditer(r'#"(.*?)"#', source):
        found.append(match.group(1))
    source = re.sub(r'#"(.*?)"#', "", source)
    for match in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', source):
        found.append(unescape(match.group(1)))
    return found


seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if data:
        seeds.setdefault(target, set()).add(data)


# JSON parser and result decoder: every literal of the ALB event tests that looks like a JSON document.
for source in test_files("ALBEventsTests", "LoadBalancerTests", "EnvironmentsTests"):
    for text in literals(source):
        stripped = text.strip()
        scalar = stripped in ("true", "false", "null") or re.fullmatch(r"-?\d[\d.eE+-]*", stripped)
        if stripped[:1] in ("{", "[", '"') or scalar:
            add("FuzzJSONParser", text)
            if stripped.startswith("{"):
                add("FuzzResultDecoder", text)
for text in ['{"statusCode":200}', '{"statusCode":404,"statusDescription":"404 Not Found","headers":{"a":"b"},'
             '"multiValueHeaders":{"x":["1","2"]},"body":"aGVsbG8=","isBase64Encoded":true}',
             '{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\ud83d\\ude00\\n"]}']:
    add("FuzzJSONParser", text)
    add("FuzzResultDecoder", text)

# Request heads: raw HTTP requests of the front-end tests, and a few written here.
for source in test_files("ALBEventsTests", "LoadBalancerTests", "IntegrationTests", "ObservabilityTests"):
    for text in literals(source):
        if re.match(r"[A-Z]+ \S* HTTP/1\.[01]\r\n", text):
            add("FuzzRequestHead", text if "\r\n\r\n" in text else text + "\r\n")
for text in [
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET http://other.example/admin?x=1&y&x=2 HTTP/1.1\r\nHost: a.example:8080\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n"
    "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    "POST /p HTTP/1.1\r\nHost: a\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3\r\n\x00\xff\x01\r\n0\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n",
    "FOO /custom HTTP/1.1\r\nHost: a\r\n\r\nget /lower HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1;ext=\"v\"\r\nx\r\n0\r\nT: t\r\n\r\n",
]:
    add("FuzzRequestHead", text.encode("latin-1"))

# Runtime API: the requests the handler tests send, and a runtime's whole loop.
prefix = "/2018-06-01/runtime"
loop = [
    f"GET {prefix}/invocation/next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    f"POST {prefix}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n\"ok\"",
    f"POST {prefix}/invocation/req-2/error HTTP/1.1\r\nHost: x\r\nLambda-Runtime-Function-Error-Type: E\r\n"
    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    f"POST {prefix}/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "GET /2018-06-01/ping HTTP/1.1\r\nHost: x\r\n\r\n",
    f"POST {prefix}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    "Expect: 100-continue\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    f"DELETE {prefix}/invocation/next HTTP/1.0\r\nConnection: close\r\n\r\n",
]
for text in loop:
    add("FuzzRuntimeAPI", text)
add("FuzzRuntimeAPI", loop[0] + loop[1] + loop[0] + loop[2] + loop[0])
for source in test_files("EnvironmentsTests"):
    for text in literals(source):
        if "HTTP/1." in text or "/invocation/" in text:
            add("FuzzRuntimeAPI", text)

# Configuration: the example file and every YAML literal of the configuration tests.
add("FuzzConfiguration", read("config/example.yaml"))
for source in test_files("ConfigurationTests", "DeploymentTests"):
    for text in literals(source):
        if "\n" in text and ":" in text:
            add("FuzzConfiguration", text)

# OTLP trace exports: the JSON literals of the tests, and protobuf written here from the schema's field numbers.
for source in test_files("TracingTests"):
    for text in literals(source):
        if "resourceSpans" in text:
            add("FuzzOTLP", text)


def pb_varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def pb_field(number, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return pb_varint(number << 3 | 2) + pb_varint(len(payload)) + payload


def pb_fixed64(number, value):
    return pb_varint(number << 3 | 1) + value.to_bytes(8, "little")


def pb_varint_field(number, value):
    return pb_varint(number << 3) + pb_varint(value)


def pb_key_value(key, any_value):
    return pb_field(1, key) + pb_field(2, any_value)


otlp_span = (pb_field(1, bytes.fromhex("6553f100" + "ab" * 12)) + pb_field(2, bytes(range(1, 9)))
             + pb_field(4, bytes(range(9, 17))) + pb_field(5, "GET /orders") + pb_varint_field(6, 2)
             + pb_fixed64(7, 1700000000000000000) + pb_fixed64(8, 1700000000250000000)
             + pb_field(9, pb_key_value("http.status_code", pb_varint_field(3, 200)))
             + pb_field(9, pb_key_value("tags", pb_field(5, pb_field(1, pb_field(1, "a")))))
             + pb_field(9, pb_key_value("map", pb_field(6, pb_field(1, pb_key_value("k", pb_fixed64(4, 4607182418800017408))))))
             + pb_field(15, pb_field(2, "boom") + pb_varint_field(3, 2)))
otlp_resource = pb_field(1, pb_field(1, pb_key_value("service.name", pb_field(1, "orders"))))
add("FuzzOTLP", pb_field(1, otlp_resource + pb_field(2, pb_field(1, pb_field(1, "lib")) + pb_field(2, otlp_span))))

# Zip archives.


def archive(entries):
    """entries: (name, data, mode or None, compress)"""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data, mode, compress in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            if mode is not None:
                info.create_system = 3
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return buffer.getvalue()


for entries in [
    [("bootstrap", b"#!/bin/sh\necho hi\n", 0o100755, False)],
    [("lambda_function.py", b"def handler(e, c):\n    return {'statusCode': 200}\n" * 3, 0o100644, True)],
    [("lib/", b"", 0o040755, False), ("lib/a.txt", b"a", 0o100644, False), ("b", b"bb" * 40, None, True)],
    [("link", b"lib/a.txt", 0o120777, False), ("lib/a.txt", b"a", 0o100644, False)],
    [("dot", b".", 0o120777, False), ("up", b"dot/..", 0o120777, False)],
    [("escape", b"../outside", 0o120777, False)],
    [("../evil", b"x", None, False)],
    [("/abs", b"x", None, False)],
    [("d/", b"", 0o040755, False), ("d/l", b"..", 0o120777, False), ("d/l/x", b"x", None, False)],
]:
    add("FuzzZipArchive", archive(entries))

for target, items in seeds.items():
    directory = os.path.join(out, target)
    os.makedirs(directory, exist_ok=True)
    for data in items:
        with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as handle:
            handle.write(data)


# Dictionaries: the tokens each parser branches on.
def dictionary(target, tokens):
    with open(os.path.join(out, target + ".dict"), "w", encoding="utf-8") as handle:
        for token in sorted(set(tokens)):
            escaped = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c) for c in token)
            handle.write(f'"{escaped}"\n')


json_tokens = ["{", "}", "[", "]", ":", ",", "true", "false", "null", '"', "\\u", "\\ud83d", "\\ude00", "e+", "E-",
               "-0.", "\xc3\xa9"]
result_keys = ['"statusCode"', '"statusDescription"', '"headers"', '"multiValueHeaders"', '"body"',
               '"isBase64Encoded"', '"Content-Type"', '"content-length"', '"Transfer-Encoding"', '"Set-Cookie"']
http_tokens = ["\r\n", "\r\n\r\n", " HTTP/1.1\r\n", " HTTP/1.0\r\n", "GET ", "POST ", "HEAD ", "TRACE ", "CONNECT ",
               "OPTIONS ", "Host: ", "Content-Length: ", "Transfer-Encoding: chunked", "Transfer-Encoding: identity",
               "Upgrade: websocket", "Connection: close", "Connection: keep-alive", "Expect: 100-continue",
               "X-Forwarded-For: ", "X-Forwarded-Proto: ", "X-Amzn-Trace-Id: Root=1-", ";Parent=", ";Sampled=1",
               "Content-Type: text/plain", "Content-Type: application/json", "Content-Encoding: gzip",
               "http://", "https://", "?", "&", "=", "%20", "0\r\n\r\n"]
runtime_tokens = http_tokens + [prefix + "/invocation/next", prefix + "/invocation/", "/response", "/error",
                                prefix + "/init/error", "/2018-06-01/ping", "req-1", "req-2",
                                "Lambda-Runtime-Function-Error-Type: ", "Lambda-Runtime-Function-Response-Mode: "]
yaml_tokens = [": ", "- ", "\n  ", "\n    ", "{", "}", "[", "]", "'", '"', "&a", "*a", "<<: ", "!!str ", "---", "|",
               ">", "#", "true", "false", "null", "0x1f", "1e3", "~"]
for source in [read(os.path.join("Sources", "Configuration", name))
               for name in sorted(os.listdir(os.path.join(root, "Sources", "Configuration")))]:
    for block in re.findall(r"allowed: \[(.*?)\]", source, re.S) + re.findall(r"Keys = \[(.*?)\]", source, re.S):
        yaml_tokens += [key + ":" for key in re.findall(r'"([A-Za-z0-9_.]+)"', block)]
dictionary("FuzzJSONParser", json_tokens)
dictionary("FuzzResultDecoder", json_tokens + result_keys)
dictionary("FuzzRequestHead", http_tokens)
dictionary("FuzzRuntimeAPI", runtime_tokens)
dictionary("FuzzConfiguration", yaml_tokens)
dictionary("FuzzOTLP", ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "parentSpanId", "name",
                        "kind", "startTimeUnixNano", "endTimeUnixNano", "attributes", "key", "value", "stringValue",
                        "intValue", "boolValue", "doubleValue", "bytesValue", "arrayValue", "kvlistValue", "values",
                        "status", "code", "message", "service.name"] + json_tokens)
dictionary("FuzzZipArchive", ["PK\x03\x04", "PK\x01\x02", "PK\x05\x06", "..", "/", "\x00"])
print(" ".join(f"{target}:{len(items)}" for target, items in sorted(seeds.items())))
