/*
 * A trivial HTTP/1.1 keep-alive server for bench/run.sh: the upstream behind nginx.
 *
 * Single-threaded epoll loop on 127.0.0.1. Every request (pipelined ones too) gets the same small 200 response
 * with the body the benchmark's Lambda function returns, so nginx's proxy hop and Albatross's Lambda hop serve
 * identical bytes. Request bodies announced with Content-Length are read and ignored; chunked request bodies
 * close the connection (nginx does not send them for the benchmark's GETs).
 *
 * Usage: server PORT      (PORT 0 picks a free port). Prints "listening on PORT" once ready.
 * Build: cc -O2 -o server server.c   (libc only)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 5\r\n"
                               "\r\n"
                               "hello";

enum { INPUT_SIZE = 16 * 1024, OUTPUT_SIZE = 64 * 1024, MAX_EVENTS = 256 };

struct connection {
    int fd;
    size_t in_length;
    size_t body_to_skip; /* bytes of a request body still to discard */
    size_t out_start, out_end;
    int close_after_output;
    char in[INPUT_SIZE];
    char out[OUTPUT_SIZE];
};

static int epoll_fd;

static void drop(struct connection *connection) {
    close(connection->fd); /* also removes it from the epoll set */
    free(connection);
}

/* Writes what is pending; returns 0 when done or waiting for EPOLLOUT, -1 when the connection must go. */
static int flush_output(struct connection *connection) {
    while (connection->out_start < connection->out_end) {
        ssize_t written = send(connection->fd, connection->out + connection->out_start,
                               connection->out_end - connection->out_start, MSG_NOSIGNAL);
        if (written < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* Stop reading until the output drains, so a pipelining client cannot grow it without bound. */
                struct epoll_event event = {.events = EPOLLOUT, .data.ptr = connection};
                epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connection->fd, &event);
                return 0;
            }
            return -1;
        }
        connection->out_start += (size_t)written;
    }
    connection->out_start = connection->out_end = 0;
    if (connection->close_after_output) return -1;
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = connection};
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connection->fd, &event);
    return 0;
}

static const char *find_header(const char *head, const char *head_end, const char *name) {
    size_t length = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line != NULL && line < head_end; line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, length) == 0 && start[length] == ':') {
            start += length + 1;
            while (*start == ' ' || *start == '\t') start++;
            return start;
        }
    }
    return NULL;
}

/* Answers every complete request in the input buffer; returns -1 when the connection must go. */
static int handle_input(struct connection *connection) {
    size_t used = 0;
    for (;;) {
        if (connection->body_to_skip > 0) {
            size_t available = connection->in_length - used;
            size_t skip = available < connection->body_to_skip ? available : connection->body_to_skip;
            used += skip;
            connection->body_to_skip -= skip;
            if (connection->body_to_skip > 0) break;
        }
        char *head = connection->in + used;
        size_t available = connection->in_length - used;
        char *head_end = memmem(head, available, "\r\n\r\n", 4);
        if (head_end == NULL) break;
        char saved = head_end[2];
        head_end[2] = '\0'; /* make the head a string for strstr; the last header keeps its \r\n */
        const char *value;
        if (find_header(head, head_end, "Transfer-Encoding") != NULL) return -1;
        if ((value = find_header(head, head_end, "Content-Length")) != NULL) {
            connection->body_to_skip = strtoul(value, NULL, 10);
        }
        if ((value = find_header(head, head_end, "Connection")) != NULL && strncasecmp(value, "close", 5) == 0) {
            connection->close_after_output = 1;
        } else {
            const char *line_end = strchr(head, '\r');
            int http10 = line_end - head >= 8 && memcmp(line_end - 8, "HTTP/1.0", 8) == 0;
            if (http10 && !(value != NULL && strncasecmp(value, "keep-alive", 10) == 0)) {
                connection->close_after_output = 1; /* HTTP/1.0 without keep-alive */
            }
        }
        head_end[2] = saved;
        used = (size_t)(head_end - connection->in) + 4;
        if (connection->out_end + sizeof RESPONSE - 1 > OUTPUT_SIZE) return -1; /* client pipelines too far ahead */
        memcpy(connection->out + connection->out_end, RESPONSE, sizeof RESPONSE - 1);
        connection->out_end += sizeof RESPONSE - 1;
        if (connection->close_after_output) break;
    }
    memmove(connection->in, connection->in + used, connection->in_length - used);
    connection->in_length -= used;
    if (connection->in_length == INPUT_SIZE) return -1; /* request head too large */
    return flush_output(connection);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1024) != 0) {
        perror("bench-upstream: bind/listen");
        return 1;
    }
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);
    printf("listening on %d\n", ntohs(address.sin_port));
    fflush(stdout);

    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int count = epoll_wait(epoll_fd, events, MAX_EVENTS, -1);
        if (count < 0) {
            if (errno == EINTR) continue;
            perror("bench-upstream: epoll_wait");
            return 1;
        }
        for (int index = 0; index < count; index++) {
            struct connection *connection = events[index].data.ptr;
            if (connection == NULL) {
                for (;;) {
                    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct connection *fresh = calloc(1, sizeof *fresh);
                    if (fresh == NULL) {
                        close(fd);
                        continue;
                    }
                    fresh->fd = fd;
                    struct epoll_event added = {.events = EPOLLIN, .data.ptr = fresh};
                    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &added);
                }
                continue;
            }
            if (events[index].events & (EPOLLERR | EPOLLHUP) && !(events[index].events & EPOLLIN)) {
                drop(connection);
                continue;
            }
            if (events[index].events & EPOLLOUT) {
                if (flush_output(connection) != 0) {
                    drop(connection);
                    continue;
                }
                if (connection->out_end > 0) continue; /* still blocked */
            }
            if (events[index].events & EPOLLIN) {
                ssize_t got = recv(connection->fd, connection->in + connection->in_length,
                                   INPUT_SIZE - connection->in_length, 0);
                if (got <= 0) {
                    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                    drop(connection);
                    continue;
                }
                connection->in_length += (size_t)got;
                if (handle_input(connection) != 0) drop(connection);
            }
        }
    }
}
