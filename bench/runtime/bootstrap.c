/*
 * A minimal native Lambda runtime for the `provided` family, used only by bench/run.sh.
 *
 * It keeps one persistent HTTP/1.1 connection to $AWS_LAMBDA_RUNTIME_API and loops:
 *   GET  /2018-06-01/runtime/invocation/next          (reads status, headers, body)
 *   POST /2018-06-01/runtime/invocation/<id>/response  (a fixed ALB response JSON)
 * The point is to cost as little CPU as possible, so that a benchmark measures the platform, not the function.
 * Any protocol surprise (non-2xx status, missing request id, chunked body, closed connection) makes it exit
 * with a message on stderr; the platform then sees the environment die.
 *
 * Build: cc -O2 -o bootstrap bootstrap.c   (libc only)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static const char RESULT[] = "{\"statusCode\":200,\"headers\":{\"content-type\":\"text/plain\"},\"body\":\"hello\"}";

enum { BUFFER_SIZE = 64 * 1024, MAX_ID = 256 };

static int fd = -1;
static char buffer[BUFFER_SIZE];
static size_t start, end; /* unread bytes are buffer[start..<end] */

static void fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("bench-bootstrap: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

static void connect_to_api(const char *address) {
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address || colon[1] == '\0') {
        fail("AWS_LAMBDA_RUNTIME_API is not host:port: %s", address);
    }
    char host[256];
    size_t length = (size_t)(colon - address);
    if (length >= sizeof host) fail("host too long in AWS_LAMBDA_RUNTIME_API");
    memcpy(host, address, length);
    host[length] = '\0';
    if (host[0] == '[' && length > 1 && host[length - 1] == ']') { /* [::1]:port */
        memmove(host, host + 1, length - 2);
        host[length - 2] = '\0';
    }
    struct addrinfo hints = {0}, *result = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int status = getaddrinfo(host, colon + 1, &hints, &result);
    if (status != 0) fail("cannot resolve %s: %s", address, gai_strerror(status));
    for (struct addrinfo *candidate = result; candidate != NULL; candidate = candidate->ai_next) {
        fd = socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, candidate->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, candidate->ai_addr, candidate->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(result);
    if (fd < 0) fail("cannot connect to %s: %s", address, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void send_all(const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = send(fd, data, length, MSG_NOSIGNAL);
        if (written < 0) {
            if (errno == EINTR) continue;
            fail("send: %s", strerror(errno));
        }
        data += written;
        length -= (size_t)written;
    }
}

/* Reads more bytes into the buffer, compacting it first; exits on EOF or error. */
static void fill(void) {
    if (start > 0) {
        memmove(buffer, buffer + start, end - start);
        end -= start;
        start = 0;
    }
    if (end == BUFFER_SIZE) fail("response head larger than %d bytes", BUFFER_SIZE);
    for (;;) {
        ssize_t got = recv(fd, buffer + end, BUFFER_SIZE - end, 0);
        if (got > 0) {
            end += (size_t)got;
            return;
        }
        if (got == 0) fail("the Runtime API closed the connection");
        if (errno != EINTR) fail("recv: %s", strerror(errno));
    }
}

/* Case-insensitive "Name:" match at the start of a header line; returns the trimmed value or NULL. */
static const char *header_value(const char *line, const char *name) {
    size_t length = strlen(name);
    if (strncasecmp(line, name, length) != 0 || line[length] != ':') return NULL;
    const char *value = line + length + 1;
    while (*value == ' ' || *value == '\t') value++;
    return value;
}

/*
 * Reads one response: status line, headers, and a Content-Length body (discarded). Returns the status code;
 * copies Lambda-Runtime-Aws-Request-Id into `id` when asked. Sets *close_after when the server said so.
 */
static int read_response(char *id, size_t id_size, int *close_after) {
    char *head_end;
    for (;;) {
        head_end = end > start ? memmem(buffer + start, end - start, "\r\n\r\n", 4) : NULL;
        if (head_end != NULL) break;
        fill();
    }
    *head_end = '\0';
    char *line = buffer + start;
    size_t body_start = (size_t)(head_end - buffer) + 4;

    int status = 0;
    if (sscanf(line, "HTTP/1.%*c %3d", &status) != 1) fail("bad status line: %.80s", line);
    long content_length = -1;
    *close_after = 0;
    if (id != NULL) id[0] = '\0';
    char *next = strstr(line, "\r\n");
    while (next != NULL) {
        line = next + 2;
        next = strstr(line, "\r\n");
        if (next != NULL) *next = '\0';
        const char *value;
        if ((value = header_value(line, "Content-Length")) != NULL) {
            char *stop;
            content_length = strtol(value, &stop, 10);
            if (stop == value || content_length < 0) fail("bad Content-Length: %s", value);
        } else if (id != NULL && (value = header_value(line, "Lambda-Runtime-Aws-Request-Id")) != NULL) {
            size_t length = strcspn(value, " \t");
            if (length == 0 || length >= id_size) fail("bad request id: %s", value);
            memcpy(id, value, length);
            id[length] = '\0';
        } else if ((value = header_value(line, "Transfer-Encoding")) != NULL) {
            fail("chunked responses are not supported by this runtime (Transfer-Encoding: %s)", value);
        } else if ((value = header_value(line, "Connection")) != NULL) {
            if (strncasecmp(value, "close", 5) == 0) *close_after = 1;
        }
    }
    if (content_length < 0) fail("response without Content-Length (status %d)", status);

    /* Skip the body: it is the event, which this function does not look at. */
    start = body_start;
    size_t remaining = (size_t)content_length;
    for (;;) {
        size_t available = end - start;
        if (available >= remaining) {
            start += remaining;
            break;
        }
        remaining -= available;
        start = end = 0;
        fill();
    }
    return status;
}

int main(void) {
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (api == NULL || *api == '\0') fail("AWS_LAMBDA_RUNTIME_API is not set");
    connect_to_api(api);

    char next_request[512];
    int next_length = snprintf(next_request, sizeof next_request,
                               "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n", api);
    if (next_length <= 0 || (size_t)next_length >= sizeof next_request) fail("AWS_LAMBDA_RUNTIME_API too long");

    char id[MAX_ID];
    char post[1024];
    for (;;) {
        int close_after;
        send_all(next_request, (size_t)next_length);
        int status = read_response(id, sizeof id, &close_after);
        if (status != 200) fail("/next answered %d", status);
        if (id[0] == '\0') fail("/next answered without Lambda-Runtime-Aws-Request-Id");
        if (close_after) fail("/next asked to close the connection");

        int length = snprintf(post, sizeof post,
                              "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: %s\r\n"
                              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                              id, api, sizeof RESULT - 1, RESULT);
        if (length <= 0 || (size_t)length >= sizeof post) fail("response request too long");
        send_all(post, (size_t)length);
        status = read_response(NULL, 0, &close_after);
        if (status != 202) fail("/response answered %d", status);
        if (close_after) fail("/response asked to close the connection");
    }
}
