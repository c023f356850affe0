/*
 * Handshake load client for bench/tls.sh: opens TLS connections to one server, one at a time, for a fixed time,
 * and sends no request, so the server does handshakes and nothing else.
 *
 *   handshake HOST PORT SECONDS MODE VERSION CAFILE SERVERNAME
 *
 *   MODE     new     every connection is a full handshake (no session offered)
 *            ticket  every connection offers the newest session ticket it received (resumption by ticket)
 *            id      TLS 1.2 only: tickets disabled, the session ID is offered (the server's session cache)
 *   VERSION  1.2 or 1.3 (minimum and maximum)
 *
 * Each connection: TCP connect, handshake (the server certificate is verified against CAFILE and SERVERNAME),
 * in TLS 1.3 wait (at most 1 s) for the server's first NewSessionTicket, the way a real client keeps reading,
 * then send close_notify and wait (at most 1 s) for the server's close_notify or end of stream, then close.
 * The cipher suite and group are pinned so that both servers negotiate the same ones: TLS_AES_128_GCM_SHA256 or
 * ECDHE-ECDSA-AES128-GCM-SHA256, with X25519 (P-256 is offered too: in TLS 1.2 it admits the ECDSA certificate).
 *
 * Prints one line on stdout:
 *   HANDSHAKES ok=N resumed=N failed=N no_ticket=N close_notify=N seconds=S protocol=P cipher=C
 * ok counts completed handshakes (resumed or not), no_ticket those after which a TLS 1.3 client got no ticket,
 * close_notify those the server closed with a close_notify. The first few failures are described on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int failures_reported = 0;

static void report_failure(const char *what) {
    if (failures_reported++ >= 5) return;
    unsigned long code = ERR_get_error();
    char text[256] = "";
    if (code) ERR_error_string_n(code, text, sizeof text);
    fprintf(stderr, "handshake: %s%s%s%s%s\n", what, code ? ": " : "", text, errno ? " / " : "",
            errno ? strerror(errno) : "");
}

static int wait_readable(int fd, int milliseconds) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, milliseconds) > 0;
}

static int connect_to(const struct sockaddr_in *address) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)address, sizeof *address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads records (tickets, close_notify) without blocking for more than `milliseconds` in total. Returns 1 when
 * `until_ticket` and the session became resumable, or when the peer's close_notify / end of stream arrived. */
static int drain(SSL *ssl, int fd, int milliseconds, int until_ticket, int *got_close_notify) {
    double deadline = now() + milliseconds / 1000.0;
    char buffer[512];
    for (;;) {
        if (until_ticket && SSL_SESSION_is_resumable(SSL_get0_session(ssl))) return 1;
        int left = (int)((deadline - now()) * 1000);
        if (left <= 0 || !wait_readable(fd, left)) return 0;
        ERR_clear_error();
        int n = SSL_read(ssl, buffer, sizeof buffer);
        if (n > 0) continue; /* no application data is expected; ignore it */
        int error = SSL_get_error(ssl, n);
        if (error == SSL_ERROR_WANT_READ) continue;
        if (error == SSL_ERROR_ZERO_RETURN) {
            if (got_close_notify) *got_close_notify = 1;
            return !until_ticket;
        }
        return !until_ticket; /* end of stream or error: nothing more will come */
    }
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT SECONDS new|ticket|id 1.2|1.3 CAFILE SERVERNAME\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *mode = argv[4], *version = argv[5], *cafile = argv[6], *servername = argv[7];
    double seconds = atof(argv[3]);
    int tls13 = strcmp(version, "1.3") == 0;
    int resume = strcmp(mode, "new") != 0;
    int by_id = strcmp(mode, "id") == 0;
    if ((!tls13 && strcmp(version, "1.2") != 0) || (strcmp(mode, "new") && strcmp(mode, "ticket") && !by_id) ||
        (by_id && tls13)) {
        fprintf(stderr, "handshake: bad mode %s or version %s\n", mode, version);
        return 2;
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) {
        fprintf(stderr, "handshake: %s is not an IPv4 address\n", host);
        return 2;
    }

    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    int protocol = tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (!context || !SSL_CTX_set_min_proto_version(context, protocol) ||
        !SSL_CTX_set_max_proto_version(context, protocol) ||
        !SSL_CTX_set_ciphersuites(context, "TLS_AES_128_GCM_SHA256") ||
        !SSL_CTX_set_cipher_list(context, "ECDHE-ECDSA-AES128-GCM-SHA256") ||
        !SSL_CTX_set1_groups_list(context, "X25519:P-256") || !SSL_CTX_load_verify_locations(context, cafile, NULL)) {
        report_failure("client context");
        return 1;
    }
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    if (by_id) SSL_CTX_set_options(context, SSL_OP_NO_TICKET);

    long ok = 0, resumed = 0, failed = 0, no_ticket = 0, close_notify = 0;
    char negotiated[128] = "none";
    SSL_SESSION *session = NULL;
    double start = now(), end = start + seconds;
    while (now() < end) {
        errno = 0;
        int fd = connect_to(&address);
        if (fd < 0) {
            failed++;
            report_failure("connect");
            continue;
        }
        SSL *ssl = SSL_new(context);
        SSL_set_fd(ssl, fd);
        SSL_set_tlsext_host_name(ssl, servername);
        SSL_set1_host(ssl, servername);
        if (resume && session) SSL_set_session(ssl, session);
        ERR_clear_error();
        if (SSL_connect(ssl) != 1) {
            failed++;
            report_failure("SSL_connect");
            SSL_free(ssl);
            close(fd);
            continue;
        }
        ok++;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); /* from here on, wait with poll() only */
        if (SSL_session_reused(ssl)) resumed++;
        if (ok == 1)
            snprintf(negotiated, sizeof negotiated, "protocol=%s cipher=%s", SSL_get_version(ssl),
                     SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
        if (tls13 && !drain(ssl, fd, 1000, 1, NULL)) no_ticket++;
        if (resume) {
            SSL_SESSION *latest = SSL_get1_session(ssl);
            if (latest && SSL_SESSION_is_resumable(latest)) {
                SSL_SESSION_free(session);
                session = latest;
            } else {
                SSL_SESSION_free(latest);
            }
        }
        int got_close_notify = 0;
        ERR_clear_error();
        if (SSL_shutdown(ssl) == 0) drain(ssl, fd, 1000, 0, &got_close_notify);
        else got_close_notify = 1;
        if (got_close_notify) close_notify++;
        SSL_free(ssl);
        close(fd);
    }
    printf("HANDSHAKES ok=%ld resumed=%ld failed=%ld no_ticket=%ld close_notify=%ld seconds=%.3f %s\n", ok, resumed,
           failed, no_ticket, close_notify, now() - start, negotiated);
    SSL_SESSION_free(session);
    SSL_CTX_free(context);
    return 0;
}
